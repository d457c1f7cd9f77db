// Every refusal of Auth (supabase/auth's error codes) as a sentence a person understands, with
// what to do next: which fields to fix (outlined), and when a limit lets them try again.
import { isAuthError } from "@supabase/supabase-js";
import { errorMessage } from "../context";

export type AuthAction = "sign-in" | "sign-up" | "resend" | "recover" | "new-password";

export interface AuthRefusal {
  words: string;
  /** The fields the person should change (outlined, aria-invalid); none when waiting is the fix. */
  fields: ("email" | "password")[];
  /** Seconds until the same request may succeed, where a limit says so. */
  retryInS?: number;
}

// Auth's per-IP limits refill one request every 300 s / limit: 30 for sign-ups, recoveries,
// resends and password changes (10 s), 150 for sign-ins (2 s).
const REQUEST_REFILL_S: Record<AuthAction, number> = { "sign-in": 2, "sign-up": 10, resend: 10, recover: 10, "new-password": 10 };

/** The seconds in "you can only request this after N seconds" (the resend interval), if any. */
function secondsIn(message: string): number | undefined {
  const found = /after (\d+) seconds?/.exec(message);
  return found ? Number(found[1]) : undefined;
}

type Explain = (e: Error & { code?: string }, action: AuthAction, address: string) => AuthRefusal;

// By Auth's error code (supabase/auth apierrors/errorcode.go).
const EXPLAIN: Record<string, Explain> = {
  invalid_credentials: () => ({ words: "The email address or the password is wrong. Check both, or use “Forgot password?”.", fields: ["email", "password"] }),
  email_address_not_authorized: (_e, _action, address) => ({
    words: `This project cannot send mail to ${address} yet, so no account was made. Its built-in mailer writes only to the project's team: the project's owner must set up custom SMTP before anyone else can sign up.`,
    fields: [],
  }),
  email_address_invalid: (_e, _action, address) => ({
    words: `Mail cannot be delivered to ${address} (example and test domains are refused). Use an address you can read mail at.`,
    fields: ["email"],
  }),
  validation_failed: (e, _action, address) =>
    e.message.includes("email") ? { words: `${address} is not a valid email address.`, fields: ["email"] } : { words: e.message, fields: ["password"] },
  weak_password: (e) => ({ words: `Choose a stronger password: ${e.message}`, fields: ["password"] }),
  same_password: () => ({ words: "The new password must differ from the old one.", fields: ["password"] }),
  user_already_exists: (_e, _action, address) => ({ words: `${address} already has an account: sign in, or use “Forgot password?”.`, fields: ["email"] }),
  signup_disabled: () => ({ words: "This project does not take new accounts. Ask its owner for one.", fields: [] }),
  over_email_send_rate_limit: (e, _action, address) => {
    const said = secondsIn(e.message);
    if (said === undefined) {
      return { words: "This project has sent as many emails as it may this hour. Try again later; its owner can raise the limit by setting up custom SMTP.", fields: [] };
    }
    const wait = said + 1; // Auth says the whole seconds left, rounded down
    return { words: `A link was sent to ${address} moments ago: open it, or ask for another in ${wait} s.`, fields: [], retryInS: wait };
  },
  over_request_rate_limit: (_e, action) => {
    const wait = REQUEST_REFILL_S[action];
    return { words: `Too many attempts from your network in the last few minutes. Try again in ${wait} s.`, fields: [], retryInS: wait };
  },
};

export function authRefusal(e: unknown, action: AuthAction, address: string): AuthRefusal {
  if (!isAuthError(e)) return { words: errorMessage(e), fields: [] };
  const explain = e.code ? EXPLAIN[e.code] : undefined;
  return explain ? explain(e, action, address) : { words: errorMessage(e), fields: ["email", "password"] };
}
