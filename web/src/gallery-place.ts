// Where the gallery was left: its search and filter (the query of its URL, #/?q=…&show=…), kept
// for this tab (sessionStorage: a reload keeps it) so the nav's "Gallery" goes back to them, as a
// user expects after opening a series from a searched or filtered gallery.
const KEY = "imagen:gallery-query";
/** Fired on window when the place changes (the nav's link follows it). */
export const GALLERY_PLACE_CHANGED = "imagen:gallery-place";

let kept = ""; // where sessionStorage is unavailable (storage blocked): this page's memory

function stored(): string {
  try {
    return sessionStorage.getItem(KEY) ?? kept;
  } catch {
    return kept;
  }
}

/** The gallery's address with its last search and filter ("#/" without). */
export function galleryHref(): string {
  const query = stored();
  return query ? `#/?${query}` : "#/";
}

/** Keeps the gallery's search and filter, as a URL query ("" for none). */
export function keepGalleryPlace(query: string): void {
  if (query === stored()) return;
  kept = query;
  try {
    sessionStorage.setItem(KEY, query);
  } catch {
    // kept in memory only
  }
  window.dispatchEvent(new Event(GALLERY_PLACE_CHANGED));
}
