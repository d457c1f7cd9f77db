// The series page's actions and their calls: pick the winner (and stop the other tries, if asked),
// retry or cancel a try, copy its seed, start variations of it, rerun the series with new seeds,
// upscale it or repaint a region of it (its mask uploaded first), cancel or delete it, add tries. Each says what it did (announce) or shows the database's refusal.
import { ApiError, fail, isUnfinished, type Series } from "../api";
import type { ImagenClient } from "../client";
import { type Ctx, errorMessage, isUnreachable } from "../context";
import { announce, attr, h, show, text, toast } from "../dom";
import { addTriesProblem, inFieldWords, LIMITS } from "../rules";
import { pictureActions } from "../picture-actions";
import { trySettings } from "../settings";
import { tellOtherTabs } from "../tabs";
import type { Mask } from "./mask-painter";
import type { SeriesView } from "./series-data";

/** imagen.select_image; stopRest also stops the series' unfinished tries. */
async function selectImage(db: ImagenClient, seriesId: string, imageId: string | null, stopRest: boolean): Promise<Series> {
  // image_id null un-picks: the series' winner is cleared (imagen.select_image sets what it is given).
  const { data, error } = await db.rpc("select_image", { series_id: seriesId, image_id: imageId as string, stop_rest: stopRest });
  if (error) fail(error);
  return data;
}

/** imagen.cancel_series (queued tries cancelled, running ones flagged to stop), imagen.cancel_job
 * (one try), imagen.retry_job (a failed or cancelled try goes back to the queue). */
async function call(db: ImagenClient, rpc: "cancel_series" | "cancel_job" | "retry_job", id: string): Promise<void> {
  const { error } = await (rpc === "cancel_series" ? db.rpc(rpc, { series_id: id }) : db.rpc(rpc, { job_id: id }));
  if (error) fail(error);
}

/** imagen.add_tries: n more tries, up to n's maximum in all. */
async function addTries(db: ImagenClient, seriesId: string, n: number): Promise<void> {
  const { error } = await db.rpc("add_tries", { series_id: seriesId, n });
  if (error) fail(error);
}

/** DELETE on imagen.series (RLS: owners delete their own); tries and pictures go with it, and
 * the worker removes the stored files (imagen.objects_to_delete). */
async function deleteSeries(db: ImagenClient, seriesId: string): Promise<void> {
  const { error } = await db.from("series").delete().eq("id", seriesId);
  if (error) fail(error);
}

/** What the actions need of the page. */
export interface SeriesPage {
  view(): SeriesView | null;
  refresh(): Promise<void>;
  draw(): void;
  /** Puts the page in place of "Loading…" (an error must be seen). */
  showPage(): void;
}

export interface SeriesActions {
  /** The series' toolbars, the add-tries form and the error line, in the page's order. */
  parts: HTMLElement[];
  /** Shows (or with null clears) an error: an action's, or a read's (cleared by the next good read). */
  showError(message: string | null, from?: "action" | "read"): void;
  /** Whether an error that a good read clears is shown (the page reads again until it goes). */
  awaitingRead(): boolean;
  /** Enables what the series' state allows (cancel, room for more tries). */
  update(view: SeriesView): void;
  pick(idx: number): Promise<void>;
  retry(idx: number): void;
  cancel(idx: number): void;
  copySeed(idx: number): void;
  /** Each starts a new series from try idx's picture and goes to it, or throws what went wrong. */
  vary(idx: number, n: number, strength: number): Promise<void>;
  upscale(idx: number, n: number, refine: number, factor: number): Promise<void>;
  edit(idx: number, mask: Mask, prompt: string, n: number): Promise<void>;
}

export function seriesActions(ctx: Ctx, seriesId: string, page: SeriesPage): SeriesActions {
  const error = h("p", { class: "field-error", role: "alert", "data-testid": "series-error" });
  show(error, false);
  const rerun = h("button", { type: "button", "data-testid": "rerun" }, "Rerun with new seeds");
  const useSettings = h("a", { class: "button", href: `#/new?from=${seriesId}`, "data-testid": "use-settings" }, "Use these settings");
  const stopRest = h("input", { type: "checkbox", id: "stop-rest", "data-testid": "stop-rest" });
  const cancelSeries = h("button", { type: "button", "data-testid": "cancel-series" }, "Cancel series");
  const removeSeries = h("button", { type: "button", class: "danger", "data-testid": "delete-series" }, "Delete series");
  const jobAt = (idx: number) => page.view()?.jobs.find((job) => job.series_idx === idx);
  const pictureOf = (idx: number): string => {
    const imageId = jobAt(idx)?.image_id;
    if (!imageId) throw new Error(`Try ${idx} has no picture`);
    return imageId;
  };

  // What the error line shows belongs to a cause: an action's refusal stays until the next
  // action; a failed read goes as soon as a read succeeds.
  let cause: "action" | "read" | null = null;
  function showError(message: string | null, from: "action" | "read" = "action"): void {
    if (message === null && from === "read" && cause !== "read") return;
    cause = message === null ? null : from;
    text(error, message ?? "");
    show(error, message !== null);
    if (message !== null) page.showPage();
  }

  async function act(action: () => Promise<void>, done: string): Promise<boolean> {
    showError(null);
    try {
      await action();
      announce(done);
      await page.refresh();
      return true;
    } catch (e) {
      showError(errorMessage(e), isUnreachable(e) ? "read" : "action");
      return false;
    }
  }

  async function pick(idx: number): Promise<void> {
    const view = page.view();
    const job = jobAt(idx);
    if (!view || !job || job.status !== "done" || !job.image_id) {
      toast(`Try ${idx} has no picture yet`);
      return;
    }
    showError(null);
    const unpick = view.series.selected_image_id === job.image_id;
    try {
      view.series = await selectImage(ctx.db, seriesId, unpick ? null : job.image_id, !unpick && stopRest.checked);
      page.draw();
      toast(unpick ? `Try ${idx} is no longer the winner` : `Try ${idx} is the winner`);
      tellOtherTabs({ series: seriesId });
      if (stopRest.checked) await page.refresh();
    } catch (e) {
      showError(errorMessage(e), isUnreachable(e) ? "read" : "action");
    }
  }

  rerun.addEventListener("click", async () => {
    const view = page.view();
    if (!view) return;
    showError(null);
    rerun.disabled = true;
    try {
      location.hash = `#/series/${await ctx.api.rerun(view.series)}`;
    } catch (e) {
      showError(errorMessage(e), isUnreachable(e) ? "read" : "action");
    } finally {
      rerun.disabled = false;
    }
  });
  cancelSeries.addEventListener("click", () => void act(() => call(ctx.db, "cancel_series", seriesId), "The series is being cancelled"));
  removeSeries.addEventListener("click", async () => {
    if (!window.confirm("Delete this series with all its tries and pictures?")) return;
    if (await act(() => deleteSeries(ctx.db, seriesId), "Series deleted")) {
      tellOtherTabs({ series: seriesId, deleted: true });
      location.hash = "#/";
    }
  });
  const more = addTriesForm(ctx, seriesId, page, showError);
  const made = pictureActions(ctx);

  return {
    parts: [
      h(
        "details",
        { class: "series-menu", "data-testid": "series-menu" },
        h("summary", { class: "button", "data-testid": "series-menu-open" }, "Series ▾"),
        h(
          "div",
          { class: "menu-panel" },
          h("div", { class: "toolbar" }, rerun, useSettings),
          h("div", { class: "toolbar" }, h("span", { class: "check" }, stopRest, h("label", { for: "stop-rest" }, "Stop the other tries when I pick")), cancelSeries, removeSeries),
          more.form,
        ),
      ),
      error,
    ],
    showError,
    awaitingRead: () => cause === "read",
    update(view: SeriesView): void {
      cancelSeries.disabled = !view.jobs.some((job) => isUnfinished(job.status));
      more.update(view.series.count);
    },
    pick,
    retry: (idx) => void act(() => call(ctx.db, "retry_job", jobAt(idx)!.id), `Try ${idx} is queued again`),
    cancel: (idx) => void act(() => call(ctx.db, "cancel_job", jobAt(idx)!.id), `Try ${idx} is being cancelled`),
    async copySeed(idx: number): Promise<void> {
      const job = jobAt(idx);
      const seed = job ? String(trySettings(job).seed) : "";
      try {
        await navigator.clipboard.writeText(seed);
        toast(`Seed ${seed} copied`);
      } catch {
        window.prompt("The seed (copy it from here):", seed);
      }
    },
    vary: (idx, n, strength) => made.vary(pictureOf(idx), n, strength),
    upscale: (idx, n, refine, factor) => made.upscale(pictureOf(idx), n, refine, factor),
    edit: (idx, mask, prompt, n) => made.edit(pictureOf(idx), mask, prompt, n),
  };
}

/** "Add tries": n more, while the series has room (n's maximum in all); n's problem is shown
 * under the field, any other refusal on the page's error line. */
function addTriesForm(ctx: Ctx, seriesId: string, page: SeriesPage, showError: (message: string, from: "action" | "read") => void) {
  const input = h("input", {
    type: "number",
    id: "add-n",
    name: "n",
    min: 1,
    max: LIMITS.nMax,
    step: 1,
    value: "1",
    inputMode: "numeric",
    "data-testid": "add-tries-n",
    "aria-describedby": "hint-add-n",
  });
  const error = h("p", { id: "error-add-n", class: "field-error", "data-testid": "error-add-n" });
  const hint = h("p", { id: "hint-add-n", class: "hint" });
  const button = h("button", { type: "submit", "data-testid": "add-tries" }, "Add");
  const form = h(
    "form",
    { class: "add-tries", "aria-label": "Add tries", noValidate: true },
    h("label", { for: "add-n" }, "Add tries"),
    h("span", { class: "inline" }, input, button),
    hint,
    error,
  );
  show(error, false);
  input.addEventListener("input", () => {
    show(error, false);
    attr(input, "aria-invalid", null);
    attr(input, "aria-describedby", "hint-add-n");
  });

  const fail = (message: string) => {
    text(error, inFieldWords(message));
    show(error, true);
    attr(input, "aria-invalid", "true");
    attr(input, "aria-describedby", "error-add-n hint-add-n");
    input.focus();
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const view = page.view();
    if (!view) return;
    show(error, false);
    attr(input, "aria-invalid", null);
    attr(input, "aria-describedby", "hint-add-n");
    const problem = addTriesProblem(input.value, view.series.count);
    if (problem && localStorage.getItem("imagen:client-checks") !== "off") return fail(problem);
    button.disabled = true;
    try {
      await addTries(ctx.db, seriesId, Number(input.value));
      announce("Tries added");
      await page.refresh();
    } catch (e) {
      const message = errorMessage(e);
      if (e instanceof ApiError && e.code === "22023" && /^n\b/.test(message)) fail(message);
      else showError(message, isUnreachable(e) ? "read" : "action");
    } finally {
      button.disabled = false;
    }
  });

  return {
    form,
    update(count: number): void {
      const room = LIMITS.nMax - count;
      show(form, room > 0);
      input.max = String(Math.max(room, 1));
      text(hint, `up to ${room} more (a series has at most ${LIMITS.nMax} tries)`);
    },
  };
}
