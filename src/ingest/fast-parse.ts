// Parsers compiled at start from zod wire schemas, for the items a REST batch carries by the
// thousand: each returns exactly what the schema's parse returns (the same keys in the same
// order, the same trims and transforms) or REFUSED, and a refused value goes to zod, which
// names the field and says what is wrong. A schema part it does not know stops the start, so
// the zod schema stays the one definition.
import type { z } from 'zod';

export const REFUSED: unique symbol = Symbol('refused');
type Parse = (v: unknown) => unknown;

type Def = {
  type: string;
  checks?: { _zod: { def: CheckDef } }[];
  coerce?: boolean;
  innerType?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  catchall?: z.ZodType;
  keyType?: z.ZodType;
  valueType?: z.ZodType;
  element?: z.ZodType;
  in?: z.ZodType;
  out?: z.ZodType;
  transform?: (value: unknown, ctx: unknown) => unknown;
};
type CheckDef = {
  check: string;
  maximum?: number;
  minimum?: number;
  value?: number;
  inclusive?: boolean;
  format?: string;
  tx?: (v: unknown) => unknown;
  fn?: (v: unknown) => unknown;
};

const defOf = (schema: z.ZodType) => schema._zod.def as unknown as Def;

/** What zod's record takes as a plain object, narrowed to what JSON makes: no prototype but Object's (or none), no key that names one, no symbol. */
const plainRecord = (v: unknown): v is Record<string, unknown> => {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  return (
    (proto === Object.prototype || proto === null) &&
    !Object.hasOwn(v, '__proto__') &&
    !Object.hasOwn(v, 'constructor') &&
    Object.getOwnPropertySymbols(v).length === 0
  );
};

function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** A check of the schema as a step: the value it passes on (an overwrite's), or REFUSED. */
function compileCheck(c: CheckDef): Parse {
  switch (c.check) {
    case 'overwrite':
      return c.tx!;
    case 'max_length': // zod counts code points only past the limit in units: leave those to it
      return (v) => ((v as { length: number }).length <= c.maximum! ? v : REFUSED);
    case 'min_length':
      return (v) => {
        const units = (v as { length: number }).length;
        if (units >= c.minimum! * 2 || (typeof v !== 'string' && units >= c.minimum!)) return v;
        return units >= c.minimum! && codePoints(v as string) >= c.minimum! ? v : REFUSED;
      };
    case 'greater_than':
      return (v) => ((c.inclusive ? (v as number) >= c.value! : (v as number) > c.value!) ? v : REFUSED);
    case 'less_than':
      return (v) => ((c.inclusive ? (v as number) <= c.value! : (v as number) < c.value!) ? v : REFUSED);
    case 'number_format':
      if (c.format !== 'safeint') break;
      return (v) => (Number.isSafeInteger(v) ? v : REFUSED);
    case 'custom': // a refine: truthy passes; a promise is zod's to wait for
      return (v) => {
        const ok = c.fn!(v);
        return ok && !(ok instanceof Promise) ? v : REFUSED;
      };
  }
  throw new Error(`fast parse: no compiled check for ${JSON.stringify(c)}`);
}

function withChecks(def: Def, typed: (v: unknown) => boolean): Parse {
  if (def.coerce) throw new Error(`fast parse: no compiled coercion (${def.type})`);
  const checks = (def.checks ?? []).map(({ _zod }) => compileCheck(_zod.def));
  return (v) => {
    if (!typed(v)) return REFUSED;
    for (const check of checks) if ((v = check(v)) === REFUSED) return REFUSED;
    return v;
  };
}

/** Mirrors zod's object parse: declared keys first, in the shape's order, then (loose) the others as they come. */
function compileObject(def: Def): Parse {
  if (def.checks?.length) throw new Error('fast parse: no compiled object checks');
  const catchall = def.catchall ? defOf(def.catchall).type : 'strip';
  if (catchall !== 'unknown' && catchall !== 'strip') throw new Error(`fast parse: no compiled ${catchall} catchall`);
  const fields = Object.entries(def.shape!).map(([key, schema]) => {
    const { optin, optout } = schema._zod;
    if (optin === 'defaulted') throw new Error('fast parse: no compiled defaults');
    return {
      key,
      parse: compile(schema),
      optional: optin === 'optional',
      omittable: optin === 'optional' && optout === 'optional',
    };
  });
  // Generated with each key written out, as zod's own object parser is: a property read at a
  // site of its own stays fast when the key is absent, where one read by a varying key does not.
  const steps = fields.map(({ key, optional, omittable }, i) => {
    const k = JSON.stringify(key);
    const parse = `x = f[${i}](v[${k}]); if (x === R) return R;`;
    if (omittable) return `if (${k} in v) { ${parse} out[${k}] = x; }`;
    if (optional) return `${parse} if (x !== undefined || ${k} in v) out[${k}] = x;`;
    return `if (!(${k} in v)) return R; ${parse} out[${k}] = x;`;
  });
  const declaredOnly = new Function('v', 'f', 'R', `const out = {}; let x; ${steps.join(' ')} return out;`) as (
    v: Record<string, unknown>,
    f: Parse[],
    R: typeof REFUSED,
  ) => Record<string, unknown> | typeof REFUSED;
  const parsers = fields.map((f) => f.parse);
  const declared = new Set(fields.map((f) => f.key));
  return (input) => {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) return REFUSED;
    const v = input as Record<string, unknown>;
    const out = declaredOnly(v, parsers, REFUSED);
    if (out === REFUSED) return REFUSED;
    // As zod does: `__proto__` is not copied (the assignment would replace the copy's prototype).
    if (catchall === 'unknown') for (const key in v) if (!declared.has(key) && key !== '__proto__') out[key] = v[key];
    return out;
  };
}

/** What a transform is given as zod's context (a class: no closure made per call). */
class TransformContext {
  issues: unknown[] = [];
  constructor(readonly value: unknown) {}
  addIssue(issue: unknown) {
    this.issues.push(issue);
  }
}

function compile(schema: z.ZodType): Parse {
  const def = defOf(schema);
  switch (def.type) {
    case 'optional': {
      if (defOf(def.innerType!).type === 'default') throw new Error('fast parse: no compiled defaults');
      const inner = compile(def.innerType!);
      return (v) => (v === undefined ? undefined : inner(v));
    }
    case 'string':
      return withChecks(def, (v) => typeof v === 'string');
    case 'number': // zod refuses NaN and the infinities before any check
      return withChecks(def, (v) => typeof v === 'number' && Number.isFinite(v));
    case 'boolean':
      return withChecks(def, (v) => typeof v === 'boolean');
    case 'unknown':
      if (def.checks?.length) break;
      return (v) => v;
    case 'object':
      return compileObject(def);
    case 'record': {
      const key = defOf(def.keyType!);
      if (key.type !== 'string' || key.checks?.length || def.checks?.length) break;
      const value = compile(def.valueType!);
      return (v) => {
        if (!plainRecord(v)) return REFUSED;
        const out: Record<string, unknown> = {};
        for (const k of Object.keys(v)) if ((out[k] = value(v[k])) === REFUSED) return REFUSED;
        return out;
      };
    }
    case 'array': {
      const element = compile(def.element!);
      const parse = withChecks(def, Array.isArray);
      return (v) => {
        const list = parse(v);
        if (list === REFUSED) return REFUSED;
        const items = list as unknown[];
        const out = new Array(items.length);
        for (let i = 0; i < items.length; i++) if ((out[i] = element(items[i])) === REFUSED) return REFUSED;
        return out;
      };
    }
    case 'pipe': {
      const first = compile(def.in!);
      const then = compile(def.out!);
      return (v) => {
        const mid = first(v);
        return mid === REFUSED ? REFUSED : then(mid);
      };
    }
    case 'transform': {
      if (def.checks?.length) break;
      const transform = def.transform!;
      return (v) => {
        // The same function zod calls, with a context that only records whether it raised an issue.
        const ctx = new TransformContext(v);
        const out = transform(v, ctx);
        return ctx.issues.length || out instanceof Promise ? REFUSED : out;
      };
    }
  }
  throw new Error(`fast parse: no compiled parse for a ${def.type}`);
}

/** `schema`'s parse compiled: its output for a value it passes, REFUSED for any value zod must see (to refuse it, or not). */
export function compileParser<S extends z.ZodType>(schema: S): (value: unknown) => z.output<S> | typeof REFUSED {
  return compile(schema) as (value: unknown) => z.output<S> | typeof REFUSED;
}
