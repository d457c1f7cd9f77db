// Tabs in step: what one tab changes (a series picked, un-picked, deleted, a favourite) it tells
// the app's other tabs of this browser (BroadcastChannel), which read again at once instead of
// waiting for their next poll. Only ids travel; each tab reads the rows itself.
const channel = typeof BroadcastChannel === "undefined" ? null : new BroadcastChannel("imagen");

/** What changed: a series (its id), or the user's gallery as a whole. */
export interface TabNews {
  series?: string;
  deleted?: boolean;
}

export function tellOtherTabs(news: TabNews): void {
  channel?.postMessage(news);
}

/** Listens for other tabs' news; returns what stops it. */
export function onOtherTabs(listener: (news: TabNews) => void): () => void {
  const handler = (event: MessageEvent) => listener(event.data as TabNews);
  channel?.addEventListener("message", handler);
  return () => channel?.removeEventListener("message", handler);
}
