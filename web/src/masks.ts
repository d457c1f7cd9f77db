// An edit's mask in Storage: the user uploads it to their own masks folder
// (<user id>/masks/<uuid>.png, the one place they may write: supabase/schemas/70_realtime_storage.sql)
// with what the database checks it by (imagen_private.mask_problem): its size and painted pixels,
// as the upload's custom metadata (storage.objects.user_metadata).
import type { ImagenClient } from "./client";
import { SETTINGS_RULES } from "./settings_rules";
import type { Mask } from "./views/mask-painter";

const BUCKET = "imagen";

/** Why the database would refuse this mask before it is uploaded, or null. The database stays
 * the judge (its own words are shown for anything else). */
export function maskProblem(mask: Pick<Mask, "painted" | "png">): string | null {
  if (mask.painted <= 0) return "Nothing is painted: paint over the region to repaint first.";
  const limit = SETTINGS_RULES.mask_path.max_value;
  if (mask.png.size > limit) return `The mask is ${mask.png.size} bytes, at most ${limit}: paint a simpler region.`;
  return null;
}

/** Uploads the mask to the owner's masks folder → its path, for an edit's mask_path. */
export async function uploadMask(db: ImagenClient, ownerId: string, mask: Mask): Promise<string> {
  const path = `${ownerId}/masks/${crypto.randomUUID()}.png`;
  const { error } = await db.storage.from(BUCKET).upload(path, mask.png, {
    contentType: "image/png",
    upsert: false,
    metadata: { width: mask.width, height: mask.height, painted: mask.painted },
  });
  if (error) throw new Error(`Could not upload the mask: ${error.message}`);
  return path;
}
