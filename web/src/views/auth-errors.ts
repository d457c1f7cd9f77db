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

export function authRefusal(e: unknown, action: AuthAction, address: string): AuthRefusal {
  if (!isAuthError(e)) return { words: errorMessage(e), fields: [] };
  switch (e.code) {
    case "invalid_credentials":
      return { words: "The email address or the password is wrong. Check both, or use “Forgot password?”.", fields: ["email", "password"] };
    case "email_address_not_authorized":
      return {
        words: `This project cannot send mail to ${address} yet, so no account was made. Its built-in mailer writes only to the project's team: the project's owner must set up custom SMTP before anyone else can sign up.`,
        fields: [],
      };
    case "email_address_invalid":
      return { words: `Mail cannot be delivered to ${address} (example and test domains are refused). Use an address you can read mail at.`, fields: ["email"] };
    case "validation_failed":
      return { words: e.message.includes("email") ? `${address} is not a valid email address.` : e.message, fields: e.message.includes("email") ? ["email"] : ["password"] };
    case "weak_password":
      return { words: `Choose a stronger password: ${e.message}`, fields: ["password"] };
    case "same_password":
      return { words: "The new password must differ from the old one.", fields: ["password"] };
    case "user_already_exists":
      return { words: `${address} already has an account: sign in, or use “Forgot password?”.`, fields: ["email"] };
    case "signup_disabled":
      return { words: "This project does not take new accounts. Ask its owner for one.", fields: [] };
    case "over_email_send_rate_limit": {
      const wait = secondsIn(e.message);
      if (wait !== undefined) return { words: `A link was sent to ${address} moments ago: open it, or ask for another in ${wait} s.`, fields: [], retryInS: wait };
      return { words: "This project has sent as many emails as it may this hour. Try again later; its owner can raise the limit by setting up custom SMTP.", fields: [] };
    }
    case "over_request_rate_limit": {
      const wait = REQUEST_REFILL_S[action];
      return { words: `Too many attempts from your network in the last few minutes. Try again in ${wait} s.`, fields: [], retryInS: wait };
    }
    default:
      return { words: errorMessage(e), fields: ["email", "password"] };
  }
}
