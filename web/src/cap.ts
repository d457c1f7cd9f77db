// The cap on a user's unfinished tries, as the database reports it: SQLSTATE PT429 (PostgREST
// answers it HTTP 429), with the numbers as JSON in its details. Said in the app's own words:
// how many tries are unfinished, and what to do about it.

export const TOO_MANY_UNFINISHED = "PT429";

interface CapNumbers {
  unfinished: number;
  asked: number;
  limit: number;
}

function numbersOf(details: string | null): CapNumbers | null {
  try {
    const parsed: unknown = JSON.parse(details ?? "");
    if (typeof parsed !== "object" || parsed === null) return null;
    const { unfinished, asked, limit } = parsed as Record<string, unknown>;
    if ([unfinished, asked, limit].every((v) => typeof v === "number")) {
      return { unfinished, asked, limit } as CapNumbers;
    }
  } catch {
    // no numbers: the database's own message is shown
  }
  return null;
}

const WHAT_TO_DO = "Wait for some to finish, or cancel some you no longer need, then try again.";

/** The message for a PT429 error; `message` (the database's) when its details carry no numbers. */
export function capMessage(message: string, details: string | null): string {
  const numbers = numbersOf(details);
  if (!numbers) return `${message}. ${WHAT_TO_DO}`;
  const { unfinished, asked, limit } = numbers;
  const tries = (n: number) => `${n} ${n === 1 ? "try" : "tries"}`;
  return `You have ${tries(unfinished)} queued or running, and ${asked} more would go over your limit of ` +
    `${tries(limit).replace(" ", " unfinished ")}. ${WHAT_TO_DO}`;
}
