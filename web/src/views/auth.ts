// Sign in / sign up with email and password (supabase.auth); every refusal in words (auth-errors.ts).
// With "Confirm email" on (a hosted project's default) sign-up answers no session: the screen says
// to open the mailed link, offers to send it again, and "Forgot password?" mails a link that brings
// the user back to set a new one (renderNewPassword).
import { isAuthError } from "@supabase/supabase-js";
import type { ImagenClient } from "../client";
import { h, show, text } from "../dom";
import { type AuthAction, authRefusal } from "./auth-errors";

/** Where the mailed links lead back to: this app (its URL must be in Auth's redirect URLs). */
function appUrl(): string {
  return location.origin + location.pathname;
}

function passwordField(id: string, label: string, autocomplete: string): [HTMLElement, HTMLInputElement] {
  const input = h("input", { id, name: id, type: "password", autocomplete, required: true, "data-testid": id });
  return [h("div", { class: "field" }, h("label", { for: id }, label), input), input];
}

function feedback(): { error: HTMLElement; message: HTMLElement; say: (kind: "error" | "message", words: string) => void } {
  const error = h("p", { id: "auth-error", class: "field-error", role: "alert", "data-testid": "auth-error" });
  const message = h("p", { id: "auth-message", class: "notice", role: "status", "data-testid": "auth-message" });
  show(error, false);
  show(message, false);
  const say = (kind: "error" | "message", words: string) => {
    text(kind === "error" ? error : message, words);
    show(kind === "error" ? error : message, true);
  };
  return { error, message, say };
}

/** `notice`: what the app learnt before drawing this (a mailed link that had expired, say). */
export function renderAuth(db: ImagenClient, main: HTMLElement, notice?: string): void {
  const email = h("input", {
    id: "auth-email",
    name: "email",
    type: "email",
    autocomplete: "username",
    required: true,
    "data-testid": "auth-email",
  });
  const [passwordBox, password] = passwordField("auth-password", "Password", "current-password");
  password.setAttribute("data-testid", "auth-password");
  const { error, message, say } = feedback();
  const signIn = h("button", { type: "submit", class: "primary", "data-testid": "sign-in" }, "Sign in");
  const signUp = h("button", { type: "button", "data-testid": "sign-up" }, "Create account");
  const forgot = h("button", { type: "button", class: "link", "data-testid": "forgot-password" }, "Forgot password?");
  const resend = h("button", { type: "button", class: "link", "data-testid": "resend" }, "Send the link again");
  const form = h(
    "form",
    { class: "card auth-form", "aria-labelledby": "auth-title" },
    h("h1", { id: "auth-title" }, "Sign in to Imagen"),
    h("div", { class: "field" }, h("label", { for: "auth-email" }, "Email"), email),
    passwordBox,
    error,
    message,
    resend,
    h("div", { class: "actions" }, signIn, signUp),
    forgot,
  );
  show(resend, false);
  email.setAttribute("aria-describedby", "auth-error");
  password.setAttribute("aria-describedby", "auth-error");
  if (notice) say("error", notice);
  const buttons = [signIn, signUp, forgot, resend];

  let resendAt = 0; // when a rate-limited resend may be asked for again (performance.now())

  async function run(kind: AuthAction, action: () => Promise<void>, needsPassword = true): Promise<void> {
    if (needsPassword ? !form.reportValidity() : !email.reportValidity()) return;
    show(error, false);
    show(message, false);
    show(resend, false);
    email.removeAttribute("aria-invalid");
    password.removeAttribute("aria-invalid");
    for (const b of buttons) b.disabled = true;
    form.setAttribute("aria-busy", "true");
    try {
      await action();
    } catch (e) {
      if (isAuthError(e) && e.code === "email_not_confirmed") {
        say("error", `Confirm your email address first: open the link we sent to ${address()}.`);
        show(resend, true);
      } else {
        const refusal = authRefusal(e, kind, address());
        say("error", refusal.words);
        if (refusal.fields.includes("email")) email.setAttribute("aria-invalid", "true");
        if (refusal.fields.includes("password") && needsPassword) password.setAttribute("aria-invalid", "true");
        // A limited resend: its link comes back when it may be used again.
        if (refusal.retryInS !== undefined && (kind === "resend" || kind === "sign-up")) {
          resendAt = performance.now() + refusal.retryInS * 1000;
          window.setTimeout(() => {
            if (performance.now() >= resendAt - 50 && form.isConnected) {
              say("message", `You can ask for the link to ${address()} again now.`);
              show(resend, true);
            }
          }, refusal.retryInS * 1000);
        }
      }
    } finally {
      for (const b of buttons) b.disabled = false;
      form.removeAttribute("aria-busy");
    }
  }

  const address = () => email.value.trim();
  const credentials = () => ({ email: address(), password: password.value });

  // With a session, onAuthStateChange (main.ts) moves on to the app.
  const signInAction = async () => {
    const { error: authError } = await db.auth.signInWithPassword(credentials());
    if (authError) throw authError;
  };
  const signUpAction = async () => {
    const { data, error: authError } = await db.auth.signUp({ ...credentials(), options: { emailRedirectTo: appUrl() } });
    if (authError) throw authError;
    if (data.session) return;
    // Auth answers a made-up user without identities when the address is already registered
    // (so as not to tell strangers): say so without claiming anything was created.
    if (data.user?.identities?.length === 0) {
      say("message", `${address()} may already have an account: sign in, or use "Forgot password?".`);
    } else {
      say("message", `Check your inbox: we sent a link to ${address()}. Open it to confirm your address and sign in.`);
      show(resend, true);
    }
  };
  const resendAction = async () => {
    const { error: authError } = await db.auth.resend({ type: "signup", email: address(), options: { emailRedirectTo: appUrl() } });
    if (authError) throw authError;
    say("message", `We sent the link to ${address()} again.`);
    show(resend, true);
  };
  const forgotAction = async () => {
    const { error: authError } = await db.auth.resetPasswordForEmail(address(), { redirectTo: appUrl() });
    if (authError) throw authError;
    say("message", `If ${address()} has an account, we sent it a link to set a new password.`);
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void run("sign-in", signInAction);
  });
  signUp.addEventListener("click", () => void run("sign-up", signUpAction));
  resend.addEventListener("click", () => void run("resend", resendAction, false));
  forgot.addEventListener("click", () => void run("recover", forgotAction, false));
  main.replaceChildren(form);
  email.focus();
}

/** After a password recovery link: the user is signed in by it and sets a new password. */
export function renderNewPassword(db: ImagenClient, main: HTMLElement, done: () => void): void {
  const [box, password] = passwordField("new-password", "New password", "new-password");
  const { error, message, say } = feedback();
  const save = h("button", { type: "submit", class: "primary", "data-testid": "save-password" }, "Set password");
  const form = h(
    "form",
    { class: "card auth-form", "aria-labelledby": "new-password-title" },
    h("h1", { id: "new-password-title" }, "Set a new password"),
    box,
    error,
    message,
    h("div", { class: "actions" }, save),
  );
  password.setAttribute("aria-describedby", "auth-error");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    show(error, false);
    save.disabled = true;
    void db.auth.updateUser({ password: password.value }).then(({ error: authError }) => {
      save.disabled = false;
      if (authError) say("error", authRefusal(authError, "new-password", "").words);
      else done();
    });
  });
  main.replaceChildren(form);
  password.focus();
}
