// Sign in / sign up with email and password (supabase.auth); the auth server's own message on failure.
import type { ImagenClient } from "../client";
import { errorMessage } from "../context";
import { h, show, text } from "../dom";

export function renderAuth(db: ImagenClient, main: HTMLElement): void {
  const email = h("input", {
    id: "auth-email",
    name: "email",
    type: "email",
    autocomplete: "username",
    required: true,
    "data-testid": "auth-email",
  });
  const password = h("input", {
    id: "auth-password",
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
    "data-testid": "auth-password",
  });
  const error = h("p", { id: "auth-error", class: "field-error", role: "alert", "data-testid": "auth-error" });
  const message = h("p", { id: "auth-message", class: "notice", role: "status", "data-testid": "auth-message" });
  const signIn = h("button", { type: "submit", class: "primary", "data-testid": "sign-in" }, "Sign in");
  const signUp = h("button", { type: "button", "data-testid": "sign-up" }, "Create account");
  const form = h(
    "form",
    { class: "card auth-form", "aria-labelledby": "auth-title" },
    h("h1", { id: "auth-title" }, "Sign in to Imagen"),
    h("div", { class: "field" }, h("label", { for: "auth-email" }, "Email"), email),
    h("div", { class: "field" }, h("label", { for: "auth-password" }, "Password"), password),
    error,
    message,
    h("div", { class: "actions" }, signIn, signUp),
  );
  show(error, false);
  show(message, false);
  email.setAttribute("aria-describedby", "auth-error");
  password.setAttribute("aria-describedby", "auth-error");

  async function run(kind: "in" | "up"): Promise<void> {
    if (!form.reportValidity()) return;
    show(error, false);
    show(message, false);
    email.removeAttribute("aria-invalid");
    password.removeAttribute("aria-invalid");
    signIn.disabled = signUp.disabled = true;
    form.setAttribute("aria-busy", "true");
    try {
      const credentials = { email: email.value.trim(), password: password.value };
      const { data, error: authError } = kind === "in"
        ? await db.auth.signInWithPassword(credentials)
        : await db.auth.signUp(credentials);
      if (authError) throw authError;
      if (kind === "up" && !data.session) {
        text(message, "Account created. Confirm it with the link sent to your email, then sign in.");
        show(message, true);
      }
      // With a session, onAuthStateChange (main.ts) moves on to the app.
    } catch (e) {
      text(error, errorMessage(e));
      show(error, true);
      email.setAttribute("aria-invalid", "true");
      password.setAttribute("aria-invalid", "true");
    } finally {
      signIn.disabled = signUp.disabled = false;
      form.removeAttribute("aria-busy");
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void run("in");
  });
  signUp.addEventListener("click", () => void run("up"));
  main.replaceChildren(form);
  email.focus();
}
