// Which passwords are accepted wherever one is set (setup, the CLI, people's creation, a
// change): NIST 800-63B style, no composition rules. At least 10 characters, not guessable
// by zxcvbn's estimate (common passwords, repeats, sequences, keyboard rows, dates: score
// 3 of 4 or more), and not containing the name in the person's email address.
import { ZxcvbnFactory, type FeedbackType } from '@zxcvbn-ts/core';
import { adjacencyGraphs, dictionary } from '@zxcvbn-ts/language-common';
import { z } from 'zod';

export const MIN_PASSWORD_LENGTH = 10;
const MIN_SCORE = 3;

export const passwordSchema = z
  .string()
  .min(MIN_PASSWORD_LENGTH, `must be at least ${MIN_PASSWORD_LENGTH} characters`)
  .max(512);

// Built on first use: its dictionaries take some 100 ms to rank.
let estimator: ZxcvbnFactory | null = null;

// zxcvbn's warnings, in this appliance's words ("password: is …").
const WARNINGS: Record<string, string> = {
  straightRow: 'a straight row of keys on the keyboard',
  keyPattern: 'a keyboard pattern',
  simpleRepeat: 'made of a repeated character',
  extendedRepeat: 'made of a repeated pattern',
  sequences: 'a common character sequence like abc or 123',
  recentYears: 'mostly a recent year',
  dates: 'mostly a date',
  topTen: 'one of the ten most used passwords',
  topHundred: 'one of the hundred most used passwords',
  common: 'a commonly used password',
  similarToCommon: 'too similar to a commonly used password',
  wordByItself: 'a single word',
  namesByThemselves: 'a name',
  commonNames: 'a common name',
  userInputs: 'made of your own email address',
};

/** Why `password` is too weak for the person with `email`, or null when it will do. */
export function passwordWeakness(password: string, email?: string): string | null {
  if (password.length < MIN_PASSWORD_LENGTH) return `must be at least ${MIN_PASSWORD_LENGTH} characters`;
  if (password.trim() === '') return 'must not be only spaces';
  const names = emailNames(email);
  const lower = password.toLowerCase();
  const contained = names.find((name) => lower.includes(name));
  if (contained) return `must not contain the name in the email address (${contained})`;
  estimator ??= new ZxcvbnFactory({ dictionary, graphs: adjacencyGraphs });
  const { score, feedback } = estimator.check(password, names);
  return score >= MIN_SCORE
    ? null
    : `is too easy to guess: ${explain(feedback)}; a few uncommon words make a good password`;
}

/** The local part of an email and its pieces (`ann.lee` → ann.lee, ann, lee); shorter than 3 letters says little. */
function emailNames(email: string | undefined): string[] {
  const local = email?.split('@')[0]?.toLowerCase() ?? '';
  return [...new Set([local, ...local.split(/[^\p{L}\p{N}]+/u)])].filter((name) => name.length >= 3);
}

const explain = (feedback: FeedbackType) =>
  `it is ${(feedback.warning && WARNINGS[feedback.warning]) || 'a short or predictable combination'}`;

/**
 * A refinement for an object holding a `password` (optional: absent means generated) and the
 * `email` of the person it is for; the issue names the field `password`.
 */
export function strongPassword(value: { password?: unknown; email?: unknown }, ctx: z.RefinementCtx): void {
  if (typeof value.password !== 'string') return;
  const weakness = passwordWeakness(value.password, typeof value.email === 'string' ? value.email : undefined);
  if (weakness) ctx.addIssue({ code: 'custom', path: ['password'], message: weakness });
}
