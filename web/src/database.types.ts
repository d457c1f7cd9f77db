
export type Json = string | number | boolean | null | { [key: string]: Json | undefined } | Json[]

export type Database = {
  
  "imagen": {
          Tables: {
            "images": {
                  Row: {
                    "bucket": string,"bytes": number,"created_at": string,"id": string,"job_id": string,"mime": string,"owner_id": string,"path": string,"series_id": string | null
                  }
                  ComputedFields: never
                  Insert: {
                    "bucket": string,"bytes": number,"created_at"?: string,"id"?: string,"job_id": string,"mime"?: string,"owner_id": string,"path": string,"series_id"?: string | null
                  }
                  Update: {
                    "bucket"?: string,"bytes"?: number,"created_at"?: string,"id"?: string,"job_id"?: string,"mime"?: string,"owner_id"?: string,"path"?: string,"series_id"?: string | null
                  }
                  Relationships: [
                    {
      foreignKeyName: "images_job_id_fkey"
      columns: ["job_id"]
isOneToOne: true
      referencedRelation: "jobs"
      referencedColumns: ["id"]
    },{
      foreignKeyName: "images_series_id_fkey"
      columns: ["series_id"]
isOneToOne: false
      referencedRelation: "series"
      referencedColumns: ["id"]
    }
                  ]
                },"jobs": {
                  Row: {
                    "attempts": number,"cancel_requested": boolean,"claim_id": string | null,"created_at": string,"error": string | null,"finished_at": string | null,"id": string,"image_id": string | null,"kind": string,"lease_expires_at": string | null,"leased_by": string | null,"max_attempts": number,"owner_id": string,"progress": number,"queued_at": string,"run_after": string,"series_id": string | null,"series_idx": number | null,"settings": NonNullable<Json>,"started_at": string | null,"status": string,"updated_at": string
                  }
                  ComputedFields: never
                  Insert: {
                    "attempts"?: number,"cancel_requested"?: boolean,"claim_id"?: string | null,"created_at"?: string,"error"?: string | null,"finished_at"?: string | null,"id"?: string,"image_id"?: string | null,"kind"?: string,"lease_expires_at"?: string | null,"leased_by"?: string | null,"max_attempts"?: number,"owner_id"?: string,"progress"?: number,"queued_at"?: string,"run_after"?: string,"series_id"?: string | null,"series_idx"?: number | null,"settings"?: NonNullable<Json>,"started_at"?: string | null,"status"?: string,"updated_at"?: string
                  }
                  Update: {
                    "attempts"?: number,"cancel_requested"?: boolean,"claim_id"?: string | null,"created_at"?: string,"error"?: string | null,"finished_at"?: string | null,"id"?: string,"image_id"?: string | null,"kind"?: string,"lease_expires_at"?: string | null,"leased_by"?: string | null,"max_attempts"?: number,"owner_id"?: string,"progress"?: number,"queued_at"?: string,"run_after"?: string,"series_id"?: string | null,"series_idx"?: number | null,"settings"?: NonNullable<Json>,"started_at"?: string | null,"status"?: string,"updated_at"?: string
                  }
                  Relationships: [
                    {
      foreignKeyName: "jobs_image_id_fkey"
      columns: ["image_id"]
isOneToOne: false
      referencedRelation: "images"
      referencedColumns: ["id"]
    },{
      foreignKeyName: "jobs_series_id_fkey"
      columns: ["series_id"]
isOneToOne: false
      referencedRelation: "series"
      referencedColumns: ["id"]
    }
                  ]
                },"limits": {
                  Row: {
                    "anonymous": boolean,"id": number,"max_unfinished_tries": number,"max_webhook_endpoints": number | null,"owner_id": string | null
                  }
                  ComputedFields: never
                  Insert: {
                    "anonymous"?: boolean,"id"?: never,"max_unfinished_tries": number,"max_webhook_endpoints"?: number | null,"owner_id"?: string | null
                  }
                  Update: {
                    "anonymous"?: boolean,"id"?: never,"max_unfinished_tries"?: number,"max_webhook_endpoints"?: number | null,"owner_id"?: string | null
                  }
                  Relationships: [
                    
                  ]
                },"objects_to_delete": {
                  Row: {
                    "bucket": string,"created_at": string,"id": number,"owner_id": string,"path": string
                  }
                  ComputedFields: never
                  Insert: {
                    "bucket": string,"created_at"?: string,"id"?: never,"owner_id": string,"path": string
                  }
                  Update: {
                    "bucket"?: string,"created_at"?: string,"id"?: never,"owner_id"?: string,"path"?: string
                  }
                  Relationships: [
                    
                  ]
                },"owner_turns": {
                  Row: {
                    "first_queued_at": string,"last_claimed_at": string | null,"owner_id": string,"queued_tries": number
                  }
                  ComputedFields: never
                  Insert: {
                    "first_queued_at"?: string,"last_claimed_at"?: string | null,"owner_id": string,"queued_tries"?: number
                  }
                  Update: {
                    "first_queued_at"?: string,"last_claimed_at"?: string | null,"owner_id"?: string,"queued_tries"?: number
                  }
                  Relationships: [
                    
                  ]
                },"series": {
                  Row: {
                    "count": number,"created_at": string,"favourite": boolean,"id": string,"kind": string,"owner_id": string,"parent_image_id": string | null,"rerun_of": string | null,"selected_image_id": string | null,"settings": NonNullable<Json>
                  }
                  ComputedFields: never
                  Insert: {
                    "count": number,"created_at"?: string,"favourite"?: boolean,"id"?: string,"kind"?: string,"owner_id"?: string,"parent_image_id"?: string | null,"rerun_of"?: string | null,"selected_image_id"?: string | null,"settings"?: NonNullable<Json>
                  }
                  Update: {
                    "count"?: number,"created_at"?: string,"favourite"?: boolean,"id"?: string,"kind"?: string,"owner_id"?: string,"parent_image_id"?: string | null,"rerun_of"?: string | null,"selected_image_id"?: string | null,"settings"?: NonNullable<Json>
                  }
                  Relationships: [
                    {
      foreignKeyName: "series_parent_image_id_fkey"
      columns: ["parent_image_id"]
isOneToOne: false
      referencedRelation: "images"
      referencedColumns: ["id"]
    },{
      foreignKeyName: "series_rerun_of_fkey"
      columns: ["rerun_of"]
isOneToOne: false
      referencedRelation: "series"
      referencedColumns: ["id"]
    },{
      foreignKeyName: "series_selected_image_fkey"
      columns: ["selected_image_id","id"]
isOneToOne: false
      referencedRelation: "images"
      referencedColumns: ["id","series_id"]
    }
                  ]
                },"webhook_deliveries": {
                  Row: {
                    "attempts": number,"created_at": string,"delivered_at": string | null,"endpoint_id": string,"event": string,"given_up_at": string | null,"id": string,"last_error": string | null,"last_status": number | null,"next_attempt_at": string,"owner_id": string,"payload": NonNullable<Json>
                  }
                  ComputedFields: never
                  Insert: {
                    "attempts"?: number,"created_at"?: string,"delivered_at"?: string | null,"endpoint_id": string,"event": string,"given_up_at"?: string | null,"id"?: string,"last_error"?: string | null,"last_status"?: number | null,"next_attempt_at"?: string,"owner_id": string,"payload": NonNullable<Json>
                  }
                  Update: {
                    "attempts"?: number,"created_at"?: string,"delivered_at"?: string | null,"endpoint_id"?: string,"event"?: string,"given_up_at"?: string | null,"id"?: string,"last_error"?: string | null,"last_status"?: number | null,"next_attempt_at"?: string,"owner_id"?: string,"payload"?: NonNullable<Json>
                  }
                  Relationships: [
                    {
      foreignKeyName: "webhook_deliveries_endpoint_id_fkey"
      columns: ["endpoint_id"]
isOneToOne: false
      referencedRelation: "webhook_endpoints"
      referencedColumns: ["id"]
    }
                  ]
                },"webhook_endpoints": {
                  Row: {
                    "created_at": string,"events": (string)[],"id": string,"owner_id": string,"secret": string,"url": string
                  }
                  ComputedFields: never
                  Insert: {
                    "created_at"?: string,"events"?: (string)[],"id"?: string,"owner_id"?: string,"secret"?: string,"url": string
                  }
                  Update: {
                    "created_at"?: string,"events"?: (string)[],"id"?: string,"owner_id"?: string,"secret"?: string,"url"?: string
                  }
                  Relationships: [
                    
                  ]
                }
          }
          Views: {
            "queue": {
                  Row: {
                    "expected_start": string | null,"expected_start_error": number | null,"id": string | null,"owner_id": string | null,"place": number | null,"place_in_line": number | null,"series_id": string | null,"series_idx": number | null,"state": string | null,"status": string | null
                  }
                  ComputedFields: never
                  Relationships: [
                    
                  ]
                }
          }
          Functions: {
            "add_tries":
{ Args: { "n": number,"series_id": string }; Returns: Json
                           },
"cancel_job":
{ Args: { "job_id": string }; Returns: {
              "attempts": number,
"cancel_requested": boolean,
"claim_id": string | null,
"created_at": string,
"error": string | null,
"finished_at": string | null,
"id": string,
"image_id": string | null,
"kind": string,
"lease_expires_at": string | null,
"leased_by": string | null,
"max_attempts": number,
"owner_id": string,
"progress": number,
"queued_at": string,
"run_after": string,
"series_id": string | null,
"series_idx": number | null,
"settings": NonNullable<Json>,
"started_at": string | null,
"status": string,
"updated_at": string
            }
                          SetofOptions: {
        from: "*"
        to: "jobs"
        isOneToOne: true
        isSetofReturn: false
      } },
"cancel_series":
{ Args: { "series_id": string }; Returns: {
              "count": number,
"created_at": string,
"favourite": boolean,
"id": string,
"kind": string,
"owner_id": string,
"parent_image_id": string | null,
"rerun_of": string | null,
"selected_image_id": string | null,
"settings": NonNullable<Json>
            }
                          SetofOptions: {
        from: "*"
        to: "series"
        isOneToOne: true
        isSetofReturn: false
      } },
"claim_job":
{ Args: { "lease_seconds"?: number,"worker_id": string }; Returns: {
              "attempts": number,
"cancel_requested": boolean,
"claim_id": string | null,
"created_at": string,
"error": string | null,
"finished_at": string | null,
"id": string,
"image_id": string | null,
"kind": string,
"lease_expires_at": string | null,
"leased_by": string | null,
"max_attempts": number,
"owner_id": string,
"progress": number,
"queued_at": string,
"run_after": string,
"series_id": string | null,
"series_idx": number | null,
"settings": NonNullable<Json>,
"started_at": string | null,
"status": string,
"updated_at": string
            }[]
                          SetofOptions: {
        from: "*"
        to: "jobs"
        isOneToOne: false
        isSetofReturn: true
      } } |
{ Args: { "claim_id": string,"kinds"?: (string)[],"lease_seconds": number,"models"?: (string)[],"worker_id": string }; Returns: {
              "attempts": number,
"cancel_requested": boolean,
"claim_id": string | null,
"created_at": string,
"error": string | null,
"finished_at": string | null,
"id": string,
"image_id": string | null,
"kind": string,
"lease_expires_at": string | null,
"leased_by": string | null,
"max_attempts": number,
"owner_id": string,
"progress": number,
"queued_at": string,
"run_after": string,
"series_id": string | null,
"series_idx": number | null,
"settings": NonNullable<Json>,
"started_at": string | null,
"status": string,
"updated_at": string
            }[]
                          SetofOptions: {
        from: "*"
        to: "jobs"
        isOneToOne: false
        isSetofReturn: true
      } },
"claim_next":
{ Args: { "claim_id": string,"kinds"?: (string)[],"lease_seconds": number,"models"?: (string)[],"worker_id": string }; Returns: {
              "attempts": number,
"cancel_requested": boolean,
"claim_id": string | null,
"created_at": string,
"error": string | null,
"finished_at": string | null,
"id": string,
"image_id": string | null,
"kind": string,
"lease_expires_at": string | null,
"leased_by": string | null,
"max_attempts": number,
"owner_id": string,
"progress": number,
"queued_at": string,
"run_after": string,
"series_id": string | null,
"series_idx": number | null,
"settings": NonNullable<Json>,
"started_at": string | null,
"status": string,
"updated_at": string
            }[]
                          SetofOptions: {
        from: "*"
        to: "jobs"
        isOneToOne: false
        isSetofReturn: true
      } },
"complete_job":
{ Args: { "bucket": string,"bytes": number,"job_id": string,"mime"?: string,"path": string,"worker_id": string }; Returns: {
              "bucket": string,
"bytes": number,
"created_at": string,
"id": string,
"job_id": string,
"mime": string,
"owner_id": string,
"path": string,
"series_id": string | null
            }
                          SetofOptions: {
        from: "*"
        to: "images"
        isOneToOne: true
        isSetofReturn: false
      } },
"create_from_image":
{ Args: { "image_id": string,"kind": string,"n"?: number,"settings"?: Json }; Returns: Json
                           },
"create_series":
{ Args: { "n"?: number,"prompt": string,"settings"?: Json }; Returns: Json
                           },
"fail_job":
{ Args: { "backoff_seconds"?: number,"error": string,"job_id": string,"worker_id": string }; Returns: {
              "attempts": number,
"cancel_requested": boolean,
"claim_id": string | null,
"created_at": string,
"error": string | null,
"finished_at": string | null,
"id": string,
"image_id": string | null,
"kind": string,
"lease_expires_at": string | null,
"leased_by": string | null,
"max_attempts": number,
"owner_id": string,
"progress": number,
"queued_at": string,
"run_after": string,
"series_id": string | null,
"series_idx": number | null,
"settings": NonNullable<Json>,
"started_at": string | null,
"status": string,
"updated_at": string
            }
                          SetofOptions: {
        from: "*"
        to: "jobs"
        isOneToOne: true
        isSetofReturn: false
      } },
"forget_object_deletions":
{ Args: { "ids": (number)[] }; Returns: number
                           },
"heartbeat_job":
{ Args: { "job_id": string,"lease_seconds"?: number,"progress"?: number,"worker_id": string }; Returns: string
                           },
"held_job":
{ Args: { "job_id": string,"worker_id": string }; Returns: {
              "attempts": number,
"cancel_requested": boolean,
"claim_id": string | null,
"created_at": string,
"error": string | null,
"finished_at": string | null,
"id": string,
"image_id": string | null,
"kind": string,
"lease_expires_at": string | null,
"leased_by": string | null,
"max_attempts": number,
"owner_id": string,
"progress": number,
"queued_at": string,
"run_after": string,
"series_id": string | null,
"series_idx": number | null,
"settings": NonNullable<Json>,
"started_at": string | null,
"status": string,
"updated_at": string
            }
                          SetofOptions: {
        from: "*"
        to: "jobs"
        isOneToOne: true
        isSetofReturn: false
      } },
"max_unfinished_tries":
{ Args: Record<PropertyKey, never>; Returns: number
                           },
"pending_object_deletions":
{ Args: { "max_rows"?: number }; Returns: {
              "bucket": string,
"created_at": string,
"id": number,
"owner_id": string,
"path": string
            }[]
                          SetofOptions: {
        from: "*"
        to: "objects_to_delete"
        isOneToOne: false
        isSetofReturn: true
      } },
"queue_depth":
{ Args: { "model"?: string }; Returns: number
                           },
"queue_overview":
{ Args: { "top_users"?: number,"with_emails"?: boolean }; Returns: Json
                           },
"queue_places":
{ Args: Record<PropertyKey, never>; Returns: {
              "expected_start": string | null,
"expected_start_error": number | null,
"id": string | null,
"owner_id": string | null,
"place": number | null,
"place_in_line": number | null,
"series_id": string | null,
"series_idx": number | null,
"state": string | null,
"status": string | null
            }[]
                          SetofOptions: {
        from: "*"
        to: "queue"
        isOneToOne: false
        isSetofReturn: true
      } },
"release_job":
{ Args: { "job_id": string,"worker_id": string }; Returns: {
              "attempts": number,
"cancel_requested": boolean,
"claim_id": string | null,
"created_at": string,
"error": string | null,
"finished_at": string | null,
"id": string,
"image_id": string | null,
"kind": string,
"lease_expires_at": string | null,
"leased_by": string | null,
"max_attempts": number,
"owner_id": string,
"progress": number,
"queued_at": string,
"run_after": string,
"series_id": string | null,
"series_idx": number | null,
"settings": NonNullable<Json>,
"started_at": string | null,
"status": string,
"updated_at": string
            }
                          SetofOptions: {
        from: "*"
        to: "jobs"
        isOneToOne: true
        isSetofReturn: false
      } },
"rerun_series":
{ Args: { "series_id": string }; Returns: Json
                           },
"retry_job":
{ Args: { "job_id": string }; Returns: {
              "attempts": number,
"cancel_requested": boolean,
"claim_id": string | null,
"created_at": string,
"error": string | null,
"finished_at": string | null,
"id": string,
"image_id": string | null,
"kind": string,
"lease_expires_at": string | null,
"leased_by": string | null,
"max_attempts": number,
"owner_id": string,
"progress": number,
"queued_at": string,
"run_after": string,
"series_id": string | null,
"series_idx": number | null,
"settings": NonNullable<Json>,
"started_at": string | null,
"status": string,
"updated_at": string
            }
                          SetofOptions: {
        from: "*"
        to: "jobs"
        isOneToOne: true
        isSetofReturn: false
      } },
"select_image":
{ Args: { "image_id": string,"series_id": string,"stop_rest"?: boolean }; Returns: {
              "count": number,
"created_at": string,
"favourite": boolean,
"id": string,
"kind": string,
"owner_id": string,
"parent_image_id": string | null,
"rerun_of": string | null,
"selected_image_id": string | null,
"settings": NonNullable<Json>
            }
                          SetofOptions: {
        from: "*"
        to: "series"
        isOneToOne: true
        isSetofReturn: false
      } },
"set_favourite":
{ Args: { "favourite": boolean,"series_id": string }; Returns: {
              "count": number,
"created_at": string,
"favourite": boolean,
"id": string,
"kind": string,
"owner_id": string,
"parent_image_id": string | null,
"rerun_of": string | null,
"selected_image_id": string | null,
"settings": NonNullable<Json>
            }
                          SetofOptions: {
        from: "*"
        to: "series"
        isOneToOne: true
        isSetofReturn: false
      } },
"settings_rules":
{ Args: Record<PropertyKey, never>; Returns: {
              "choices": (string)[],"default_value": string,"empty_rule": string,"field": string,"form": boolean,"grow_rule": string,"kind": string,"kinds": (string)[],"label": string,"max_chars": number,"max_value": number,"min_value": number,"multiple_of": number,"part": string,"position": number,"required": boolean,"rule": string,"step": number,"strong_value": number,"unit": string
            }[]
                           },
"submit_job":
{ Args: { "prompt": string,"settings"?: Json }; Returns: {
              "attempts": number,
"cancel_requested": boolean,
"claim_id": string | null,
"created_at": string,
"error": string | null,
"finished_at": string | null,
"id": string,
"image_id": string | null,
"kind": string,
"lease_expires_at": string | null,
"leased_by": string | null,
"max_attempts": number,
"owner_id": string,
"progress": number,
"queued_at": string,
"run_after": string,
"series_id": string | null,
"series_idx": number | null,
"settings": NonNullable<Json>,
"started_at": string | null,
"status": string,
"updated_at": string
            }
                          SetofOptions: {
        from: "*"
        to: "jobs"
        isOneToOne: true
        isSetofReturn: false
      } },
"try_kinds":
{ Args: Record<PropertyKey, never>; Returns: {
              "default_tries": number,"kind": string,"label": string,"max_tries": number,"needs_source": boolean
            }[]
                           },
"vary_image":
{ Args: { "image_id": string,"n"?: number,"seed"?: number,"strength"?: number }; Returns: Json
                           }
          }
          Enums: {
            [_ in never]: never
          }
          CompositeTypes: {
            [_ in never]: never
          }
        }
}

type DatabaseWithoutInternals = Omit<Database, '__InternalSupabase'>

type DefaultSchema = DatabaseWithoutInternals[Extract<keyof Database, "imagen">]

export type Tables<
  DefaultSchemaTableNameOrOptions extends
    | keyof (DefaultSchema["Tables"] & DefaultSchema["Views"])
    | { schema: keyof DatabaseWithoutInternals },
  TableName extends DefaultSchemaTableNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof (DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"] &
        DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Views"])
    : never = never
> = DefaultSchemaTableNameOrOptions extends { schema: keyof DatabaseWithoutInternals }
  ? (DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"] &
      DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Views"])[TableName] extends {
      Row: infer R
    }
    ? R
    : never
  : DefaultSchemaTableNameOrOptions extends keyof (DefaultSchema["Tables"] & DefaultSchema["Views"])
  ? (DefaultSchema["Tables"] & DefaultSchema["Views"])[DefaultSchemaTableNameOrOptions] extends {
      Row: infer R
    }
    ? R
    : never
  : never

export type TablesInsert<
  DefaultSchemaTableNameOrOptions extends
    | keyof DefaultSchema["Tables"]
    | { schema: keyof DatabaseWithoutInternals },
  TableName extends DefaultSchemaTableNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"]
    : never = never
> = DefaultSchemaTableNameOrOptions extends { schema: keyof DatabaseWithoutInternals }
  ? DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"][TableName] extends {
      Insert: infer I
    }
    ? I
    : never
  : DefaultSchemaTableNameOrOptions extends keyof DefaultSchema["Tables"]
  ? DefaultSchema["Tables"][DefaultSchemaTableNameOrOptions] extends {
      Insert: infer I
    }
    ? I
    : never
  : never

export type TablesUpdate<
  DefaultSchemaTableNameOrOptions extends
    | keyof DefaultSchema["Tables"]
    | { schema: keyof DatabaseWithoutInternals },
  TableName extends DefaultSchemaTableNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"]
    : never = never
> = DefaultSchemaTableNameOrOptions extends { schema: keyof DatabaseWithoutInternals }
  ? DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"][TableName] extends {
      Update: infer U
    }
    ? U
    : never
  : DefaultSchemaTableNameOrOptions extends keyof DefaultSchema["Tables"]
  ? DefaultSchema["Tables"][DefaultSchemaTableNameOrOptions] extends {
      Update: infer U
    }
    ? U
    : never
  : never

export type Enums<
  DefaultSchemaEnumNameOrOptions extends
    | keyof DefaultSchema["Enums"]
    | { schema: keyof DatabaseWithoutInternals },
  EnumName extends DefaultSchemaEnumNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[DefaultSchemaEnumNameOrOptions["schema"]]["Enums"]
    : never = never
> = DefaultSchemaEnumNameOrOptions extends { schema: keyof DatabaseWithoutInternals }
  ? DatabaseWithoutInternals[DefaultSchemaEnumNameOrOptions["schema"]]["Enums"][EnumName]
  : DefaultSchemaEnumNameOrOptions extends keyof DefaultSchema["Enums"]
  ? DefaultSchema["Enums"][DefaultSchemaEnumNameOrOptions]
  : never

export type CompositeTypes<
  PublicCompositeTypeNameOrOptions extends
    | keyof DefaultSchema["CompositeTypes"]
    | { schema: keyof DatabaseWithoutInternals },
  CompositeTypeName extends PublicCompositeTypeNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[PublicCompositeTypeNameOrOptions["schema"]]["CompositeTypes"]
    : never = never
> = PublicCompositeTypeNameOrOptions extends { schema: keyof DatabaseWithoutInternals }
  ? DatabaseWithoutInternals[PublicCompositeTypeNameOrOptions["schema"]]["CompositeTypes"][CompositeTypeName]
  : PublicCompositeTypeNameOrOptions extends keyof DefaultSchema["CompositeTypes"]
  ? DefaultSchema["CompositeTypes"][PublicCompositeTypeNameOrOptions]
  : never

export const Constants = {
  "imagen": {
          Enums: {
            
          }
        }
} as const
