"""Pictures in the project's private Storage bucket, uploaded with the service role."""

from __future__ import annotations

from imagen.monitoring.observer import Observer
from imagen.transports.rpcs import with_retries
from imagen.transports.supabase.project import SupabaseProject

# The pictures (.png) and their thumbnails (.webp): the bucket accepts these two types only.
CONTENT_TYPES = {"png": "image/png", "webp": "image/webp"}


class SupabaseStorage:
    observer: Observer = Observer()  # told of retried calls (imagen.monitoring.metrics)

    def __init__(self, project: SupabaseProject, bucket: str = "imagen") -> None:
        self.project = project
        self.bucket = bucket

    def _bucket(self):
        return self.project.client.storage.from_(self.bucket)

    def put(self, path: str, data: bytes) -> None:
        """Upsert: a retried try overwrites its own earlier upload."""
        options = {"content-type": CONTENT_TYPES[path.rsplit(".", 1)[-1]], "upsert": "true"}
        with_retries(lambda: self.project.call(lambda: self._bucket().upload(path, data, options)),
                     "upload", self.project.stopping, observer=self.observer)  # fmt: skip

    def get(self, path: str) -> bytes:
        return with_retries(lambda: self.project.call(lambda: self._bucket().download(path)), "download",
                            self.project.stopping, observer=self.observer)  # fmt: skip

    def delete(self, path: str) -> None:
        with_retries(lambda: self.project.call(lambda: self._bucket().remove([path])), "delete", self.project.stopping,
                    observer=self.observer)  # fmt: skip
