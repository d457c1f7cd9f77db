// Start-up and hash routing: #/ gallery, #/new new series, #/series/<id> one series; without a
// session every route shows the sign-in form.
import { isAuthRetryableFetchError, type Session } from "@supabase/supabase-js";
import { api } from "./api";
import { type ImagenClient, makeClient, SESSION_REFUSED } from "./client";
import { ConfigMissing, loadConfig } from "./config";
import { type Cleanup, type Ctx, errorMessage } from "./context";
import { h } from "./dom";
import { GALLERY_PLACE_CHANGED, galleryHref, keepGalleryPlace } from "./gallery-place";
import { pictures } from "./pictures";
import "./style.css";
import { renderAuth, renderNewPassword } from "./views/auth";
import { renderGallery } from "./views/gallery";
import { installKeysHelp } from "./views/keys";
import { renderNewSeries } from "./views/new-series";
import { renderSeries } from "./views/series";

const main = document.getElementById("main")!;
/** Whether the user pressed "Sign out" (any other end of a session is said on the sign-in form). */
let signedOutByUser = false;
const nav = document.getElementById("nav")!;

type Route = { name: "gallery" } | { name: "new" } | { name: "series"; id: string };

function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, "").replace(/\?.*$/, "");
  const series = /^\/series\/([0-9a-fA-F-]{36})$/.exec(path);
  if (series) return { name: "series", id: series[1]!.toLowerCase() };
  if (path === "/new") return { name: "new" };
  return { name: "gallery" };
}

function drawNav(db: ImagenClient, session: Session | null, route: Route | null): void {
  if (!session) {
    nav.replaceChildren();
    return;
  }
  const link = (href: string, label: string, testid: string, current: boolean) =>
    h("a", { href, "data-testid": testid, "aria-current": current ? "page" : null }, label);
  const signOut = h("button", { type: "button", class: "link", "data-testid": "sign-out" }, "Sign out");
  signOut.addEventListener("click", () => {
    signedOutByUser = true;
    void db.auth.signOut();
  });
  nav.replaceChildren(
    link(galleryHref(), "Gallery", "nav-gallery", route?.name === "gallery"),
    link("#/new", "New series", "nav-new", route?.name === "new"),
    h("span", { class: "who", "data-testid": "signed-in-as", title: "Signed in as" }, session.user.email ?? "signed in"),
    signOut,
  );
}

/** What a mailed link brought in its fragment (supabase-js signs the user in from it and clears
 * it): "recovery" asks for a new password; an error says why the link did not work. */
function mailedLink(): { recovery: boolean; error: string | null } {
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
  return { recovery: fragment.get("type") === "recovery", error: fragment.get("error_description") };
}

async function start(): Promise<void> {
  const link = mailedLink();
  let db: ImagenClient;
  try {
    db = makeClient(await loadConfig());
  } catch (e) {
    main.replaceChildren(
      h("div", { class: "card", role: "alert", "data-testid": "config-error" }, h("h1", {}, "Imagen is not configured"), h("p", {}, errorMessage(e))),
    );
    if (!(e instanceof ConfigMissing)) console.error(e);
    return;
  }
  const app = { api: api(db), pictures: pictures(db) };
  let session: Session | null = (await db.auth.getSession()).data.session;
  if (link.error) history.replaceState(history.state, "", location.pathname + location.search);
  let recovering = link.recovery && session !== null;
  let cleanup: Cleanup | null = null;
  let shown: string | null = null; // what is on screen: "auth", or the route's hash for a user
  let ended: string | null = null; // why the session ended, if the user did not sign out

  function route(): void {
    const key = session ? `${session.user.id} ${recovering ? "recovery" : location.hash || "#/"}` : "auth";
    if (key === shown) return;
    shown = key;
    cleanup?.();
    cleanup = null;
    if (!session) {
      drawNav(db, null, null);
      renderAuth(db, main, link.error ?? ended ?? undefined);
      link.error = null;
      ended = null;
      return;
    }
    if (recovering) {
      drawNav(db, session, null);
      renderNewPassword(db, main, () => {
        recovering = false;
        route();
      });
      return;
    }
    const ctx: Ctx = { db, ...app, session };
    const current = parseRoute(location.hash);
    drawNav(db, session, current);
    if (current.name === "new") renderNewSeries(ctx, main);
    else if (current.name === "series") cleanup = renderSeries(ctx, main, current.id);
    else cleanup = renderGallery(ctx, main);
    // Move focus to the new screen's content for keyboard and screen-reader users, unless the
    // screen already put it somewhere (a form's first field).
    if (!main.contains(document.activeElement)) main.focus({ preventScroll: true });
  }

  db.auth.onAuthStateChange((event, next) => {
    const userChanged = (next?.user.id ?? null) !== (session?.user.id ?? null);
    session = next;
    if (event === "SIGNED_OUT") {
      app.pictures.clear();
      keepGalleryPlace(""); // the next user's gallery starts unsearched
      // The page's address stays: signing in again returns to it.
      if (!signedOutByUser) ended ??= "Your session has ended (it expired, or was signed out elsewhere). Sign in again to carry on where you were.";
      signedOutByUser = false;
    }
    // Token refreshes keep the screen; signing in or out (or another user) redraws it.
    if (userChanged) window.setTimeout(route, 0);
  });
  // A token the API refuses: asked afresh once (a laptop woken from sleep holds an expired one);
  // if Auth refuses the session too (bad, revoked, expired for good), or the fresh token is
  // refused again soon after, the session ends here too, saying why. No network: nothing to judge.
  let refreshedAt = -Infinity;
  let judging = false;
  window.addEventListener(SESSION_REFUSED, async () => {
    if (!session || ended || judging) return;
    judging = true;
    try {
      if (performance.now() - refreshedAt > 10_000) {
        refreshedAt = performance.now();
        const { error } = await db.auth.refreshSession();
        if (!error || isAuthRetryableFetchError(error)) return;
      }
      ended = "Your session is no longer valid (the server refused it). Sign in again to carry on where you were.";
      await db.auth.signOut({ scope: "local" });
    } finally {
      judging = false;
    }
  });
  window.addEventListener("hashchange", route);
  // The gallery's search or filter changed: its link in the nav follows.
  window.addEventListener(GALLERY_PLACE_CHANGED, () => nav.querySelector('[data-testid="nav-gallery"]')?.setAttribute("href", galleryHref()));
  history.scrollRestoration = "manual"; // the gallery puts its own back (views/gallery.ts)
  installKeysHelp();
  route();
}

void start();
