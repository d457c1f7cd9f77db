// Signed URLs for pictures in the private bucket, cached until shortly before they expire.
import type { ImagenClient } from "./client";

const LIFETIME_S = 3600;
const RENEW_BEFORE_MS = 5 * 60 * 1000;

interface Entry {
  url: string;
  expires: number;
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
