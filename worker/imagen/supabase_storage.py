"""Pictures in the project's private Storage bucket, uploaded with the service role."""

from __future__ import annotations

from imagen.supabase_project import SupabaseProject


class SupabaseStorage:
    def __init__(self, project: SupabaseProject, bucket: str = "imagen") -> None:
        self.project = project
        self.bucket = bucket

    def put(self, path: str, data: bytes) -> None:
        """Upsert: a retried try overwrites its own earlier upload."""
        options = {"content-type": "image/png", "upsert": "true"}
        self.project.call(lambda: self.project.client.storage.from_(self.bucket).upload(path, data, options), "upload")

    def delete(self, path: str) -> None:
        self.project.call(lambda: self.project.client.storage.from_(self.bucket).remove([path]), "delete")
