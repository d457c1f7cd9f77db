// Live updates of one series, all on its private Broadcast topic series:<id>, which only its owner
// may join (RLS on realtime.messages) and which works with the project set to private channels
// only: the database's own messages ('try' when a try's state, picture, error or cancel flag
// changes, 'tries_added', 'series' when the winner, count or favourite changes; triggers in
// supabase/schemas/70_realtime_storage.sql) and the worker's per-step 'progress'. Events are hints:
// on every (re)subscribe, and every 3 s while a try is unfinished (series.ts), the rows are read
// again, so a missed event never leaves a tile stale.
import type { RealtimeChannel, RealtimePostgresChangesPayload } from "@supabase/supabase-js";
import { isUnfinished, type Job } from "../api";
import type { Ctx } from "../context";
import { attr, h, text } from "../dom";
import type { SeriesView } from "./series-data";

/** The worker's Broadcast payload (worker/imagen/transports/progress.py). */
export interface Progress {
  job_id: string;
  series_idx: number | null;
  step: number;
  steps: number;
  preview_jpeg?: string;
}

/** The latest step of each try (by job id), and when it arrived (performance.now()). */
export type LiveSteps = Map<string, Progress & { at: number }>;

function asProgress(payload: unknown): Progress | null {
  if (typeof payload !== "object" || payload === null) return null;
  const p = payload as Record<string, unknown>;
  if (typeof p.job_id !== "string" || typeof p.step !== "number" || typeof p.steps !== "number") return null;
  return {
    job_id: p.job_id,
    series_idx: typeof p.series_idx === "number" ? p.series_idx : null,
    step: p.step,
    steps: p.steps,
    preview_jpeg: typeof p.preview_jpeg === "string" && p.preview_jpeg !== "" ? p.preview_jpeg : undefined,
  };
}

/** Whether a row stamped `candidate` may replace one stamped `shown` (updated_at, stamped by a
 * trigger on every change; PostgREST and Realtime write it differently, so compare instants). */
function isNewer(candidate: string | undefined, shown: string | undefined): boolean {
  if (!candidate || !shown) return true;
  return !(Date.parse(candidate.replace(" ", "T").replace(/([+-]\d\d)$/, "$1:00")) < Date.parse(shown)); // unreadable: newer
}

/** A try's change merged into the view shown; a try no longer queued or running loses its live step. */
export function mergeTryChange(view: SeriesView, live: LiveSteps, row: Partial<Job>): void {
  if (typeof row.id !== "string") return;
  const index = view.jobs.findIndex((job) => job.id === row.id);
  // A change that arrives late (Realtime behind, a re-read already newer) is older than the row
  // shown: merging it would turn a finished try back into a running one until the next change.
  if (index >= 0 && isNewer(row.updated_at, view.jobs[index]!.updated_at)) view.jobs[index] = { ...view.jobs[index]!, ...row };
  if (row.status !== undefined && !isUnfinished(row.status)) live.delete(row.id);
}

/** A progress message recorded in `live`; returns its job id, or null if it was not one or is
 * older than the step shown. */
export function recordProgress(live: LiveSteps, payload: unknown): string | null {
  const progress = asProgress(payload);
  if (!progress) return null;
  const previous = live.get(progress.job_id);
  // Keep the last preview when a message comes without one; never go backwards.
  if (previous && previous.step > progress.step && previous.steps === progress.steps) return null;
  live.set(progress.job_id, { ...progress, preview_jpeg: progress.preview_jpeg ?? previous?.preview_jpeg, at: performance.now() });
  return progress.job_id;
}

/** Drops the live step of every try the rows read at `started` show neither running nor queued;
 * a queued one keeps a step that came after the read began (the read may predate the claim). */
export function forgetFinished(live: LiveSteps, jobs: Job[], started: number): void {
  for (const job of jobs) {
    const progress = live.get(job.id);
    if (progress && (!isUnfinished(job.status) || (job.status === "queued" && progress.at < started))) live.delete(job.id);
  }
}

type ChannelKind = "series";

/** A 'try' message's try (realtime.send from imagen.jobs_broadcast_changed: {operation, schema,
 * table, record}, the record cut to the columns its owner may select), as the page's handler
 * takes a row change. */
function asTryChange(payload: unknown): RealtimePostgresChangesPayload<Partial<Job>> | null {
  const p = payload as { record?: unknown; schema?: unknown; table?: unknown } | null;
  if (typeof p !== "object" || p === null || typeof p.record !== "object" || p.record === null) return null;
  const record = p.record as Partial<Job>;
  return { eventType: "UPDATE", schema: "imagen", table: "jobs", commit_timestamp: record.updated_at ?? "", new: record, old: {}, errors: [] };
}

export interface LiveUpdates {
  /** "● live", "◌ connecting", "◌ reconnecting" or "○ offline", for the page's crumbs. */
  status: HTMLElement;
  /** Whether the page's last read of the rows failed (then it says offline). */
  setReadFailed(failed: boolean): void;
  /** Leaves the channels for good (the series is gone, or the page). */
  leave(): void;
  /** leave(), and stops following the network's state. */
  stop(): void;
}

// Each channel is joined with a fresh token (setAuth asks the session, which refreshes an
// expiring one) and joined again after Realtime closes it (an expired token, the project's quota,
// a restart) or it fails, backing off from 1 s to 30 s; never once left. A channel Realtime
// closes after it was live a while is joined again at once (once the old one has left): a try on
// a GPU lasts about a second, and a wait would cost the try that starts meanwhile all its
// progress. One closed again soon after joining backs off.
const SETTLED_MS = 1000;

export function liveUpdates(
  ctx: Ctx,
  seriesId: string,
  on: { tryChanged(payload: RealtimePostgresChangesPayload<Partial<Job>>): void; seriesChanged(): void; progress(payload: unknown): void; joined(): void },
): LiveUpdates {
  const status = h("span", { class: "live-status", "data-testid": "live-status" });
  const channelState: Record<ChannelKind, string> = { series: "connecting" };
  const channels = new Map<ChannelKind, RealtimeChannel>();
  const rejoins = new Map<ChannelKind, number>();
  let lost = false; // a channel closed or failed since the page was last live: re-joining
  let readFailed = false;
  let left = false;

  // What the page can honestly say about its updates: live (the channel joined), connecting or
  // reconnecting (re-joining; the rows are re-read every 3 s meanwhile), offline (no network, or
  // the last read failed).
  function draw(): void {
    const ok = channelState.series === "SUBSCRIBED";
    if (ok) lost = false;
    const state = !navigator.onLine || readFailed ? "offline" : ok ? "live" : lost ? "reconnecting" : "connecting";
    const words = {
      live: "● live",
      connecting: "◌ connecting · updating every 3 s",
      reconnecting: "◌ reconnecting · updating every 3 s",
      offline: "○ offline · retrying",
    };
    attr(status, "data-state", state);
    text(status, words[state]);
    attr(status, "title", `series channel: ${channelState.series}`);
  }

  function joinLater(kind: ChannelKind, make: () => RealtimeChannel, attempt: number): void {
    const delay = Math.min(30_000, 1000 * 2 ** attempt) * (0.5 + Math.random() / 2);
    rejoins.set(kind, window.setTimeout(() => join(kind, make, attempt + 1), delay));
  }

  function join(kind: ChannelKind, make: () => RealtimeChannel, attempt = 0): void {
    if (left) return;
    ctx.db.realtime.setAuth().then(() => {
      if (left) return;
      const channel = make();
      channels.set(kind, channel);
      let liveSince: number | null = null;
      channel.subscribe((state, err) => {
        if (channels.get(kind) !== channel) return; // an old channel's last words
        channelState[kind] = state;
        if (state === "SUBSCRIBED") {
          attempt = 0;
          liveSince = performance.now();
          on.joined();
        } else if (state === "CLOSED" || state === "CHANNEL_ERROR" || state === "TIMED_OUT") {
          if (err) console.warn(`imagen: ${kind} channel ${state}`, err);
          lost = true;
          channels.delete(kind);
          const removed = ctx.db.removeChannel(channel);
          const settled = state === "CLOSED" && liveSince !== null && performance.now() - liveSince >= SETTLED_MS;
          if (settled) void removed.finally(() => join(kind, make));
          else joinLater(kind, make, attempt);
        }
        draw();
      });
    }, () => joinLater(kind, make, attempt)); // no fresh token yet (offline): try again later
  }

  function leave(): void {
    left = true;
    for (const timer of rejoins.values()) window.clearTimeout(timer);
    rejoins.clear();
    for (const channel of channels.values()) void ctx.db.removeChannel(channel);
    channels.clear();
  }

  // Private: authorized with the user's JWT, which join() hands to Realtime first.
  join("series", () =>
    ctx.db
      .channel(`series:${seriesId}`, { config: { private: true } })
      .on("broadcast", { event: "try" }, (message) => {
        const change = asTryChange(message.payload);
        if (change) on.tryChanged(change);
      })
      .on("broadcast", { event: "tries_added" }, () => on.seriesChanged())
      .on("broadcast", { event: "series" }, () => on.seriesChanged())
      .on("broadcast", { event: "progress" }, (message) => on.progress(message.payload)));
  window.addEventListener("online", draw);
  window.addEventListener("offline", draw);
  draw();

  return {
    status,
    setReadFailed(failed: boolean): void {
      if (failed === readFailed && !failed) return;
      readFailed = failed;
      draw();
    },
    leave,
    stop(): void {
      leave();
      window.removeEventListener("online", draw);
      window.removeEventListener("offline", draw);
    },
  };
}
