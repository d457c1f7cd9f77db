// Signed URLs for pictures in the private bucket, cached until shortly before they expire.
import type { ImagenClient } from "./client";

const LIFETIME_S = 3600;
const RENEW_BEFORE_MS = 5 * 60 * 1000;

interface Entry {
  url: string;
  expires: number;
}

/** The thumbnail the worker stores beside each picture: {job_id}.webp next to {job_id}.png
 * (worker/imagen/rendering/thumbnail.py). Screens show it; the lightbox and Download use the picture. */
export function thumbnailPath(path: string): string {
  return path.replace(/\.png$/, "") + ".webp";
}

/** The picture and its thumbnail, to sign in one call; a picture stored before thumbnails
 * existed has none, and its screens fall back to the picture itself. */
export function withThumbnails(items: { bucket: string; path: string }[]): { bucket: string; path: string }[] {
  return items.flatMap((item) => [item, { bucket: item.bucket, path: thumbnailPath(item.path) }]);
}

export function pictures(db: ImagenClient) {
  const views = new Map<string, Entry>();
  const downloads = new Map<string, Entry>();
  const key = (bucket: string, path: string) => `${bucket}/${path}`;
  const fresh = (entry: Entry | undefined) => entry !== undefined && entry.expires - RENEW_BEFORE_MS > Date.now();

  return {
    /** Signed URLs to show pictures (one createSignedUrls call per bucket for the missing ones). */
    async viewUrls(items: { bucket: string; path: string }[]): Promise<Map<string, string>> {
      const byBucket = new Map<string, string[]>();
      for (const { bucket, path } of items) {
        if (fresh(views.get(key(bucket, path)))) continue;
        byBucket.set(bucket, [...(byBucket.get(bucket) ?? []), path]);
      }
      await Promise.all(
        [...byBucket].map(async ([bucket, paths]) => {
          const { data, error } = await db.storage.from(bucket).createSignedUrls(paths, LIFETIME_S);
          if (error) throw error;
          const expires = Date.now() + LIFETIME_S * 1000;
          for (const item of data) {
            if (item.path && item.signedUrl && !item.error) views.set(key(bucket, item.path), { url: item.signedUrl, expires });
          }
        }),
      );
      const out = new Map<string, string>();
      for (const { bucket, path } of items) {
        const entry = views.get(key(bucket, path));
        if (entry) out.set(path, entry.url);
      }
      return out;
    },

    /** A signed URL that downloads the picture under `filename` (Content-Disposition: attachment). */
    async downloadUrl(bucket: string, path: string, filename: string): Promise<string> {
      const cached = downloads.get(key(bucket, path));
      if (fresh(cached)) return cached!.url;
      const { data, error } = await db.storage.from(bucket).createSignedUrl(path, LIFETIME_S, { download: filename });
      if (error) throw error;
      downloads.set(key(bucket, path), { url: data.signedUrl, expires: Date.now() + LIFETIME_S * 1000 });
      return data.signedUrl;
    },

    clear(): void {
      views.clear();
      downloads.clear();
    },
  };
}

export type Pictures = ReturnType<typeof pictures>;
