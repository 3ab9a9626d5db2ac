// The API's description (/api/openapi.json): a documented route carries its operation (what it
// does, who may call it, the zod schemas its handler validates with) as a pass-through
// middleware, and the OpenAPI document is read off the mounted app's routes. The paths are the
// app's own and the schemas the validating ones, so there is no second copy to drift.
import type { Context, MiddlewareHandler } from 'hono';
import type { RouterRoute } from 'hono/types';
import { z } from 'zod';
import { CSRF_HEADER } from '../auth/csrf.js';
import { SESSION_COOKIE } from '../auth/lucia.js';
import { errorBodySchema, parseWith } from './errors.js';

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  description?: string;
  default?: unknown;
  [constraint: string]: unknown;
};

/** Who may call an operation: anyone, a browser session only, or a session or an API key with a scope. */
export type Auth = 'anyone' | 'session' | 'read' | 'ingest';

export type Operation = {
  summary: string;
  /** Roles and conditions beyond the credential, in words. */
  who?: string;
  auth: Auth;
  /** The JSON body the handler validates (its first issue becomes the 400 naming the field). */
  body?: z.ZodType;
  /** A body that is not one zod schema (OTLP, Claude Code's hooks), by media type, in words. */
  rawBody?: { media: string[]; description: string };
  /** Query-string parameters, each the schema the handler's parser validates it with. */
  query?: Record<string, z.ZodType>;
  /** The success status and what it answers. */
  status?: number;
  answer?: string;
};

const OPERATION = Symbol('operation');
export type Documented<O extends Operation = Operation> = MiddlewareHandler & { [OPERATION]: O; operation: O };

/** A route's operation, as the middleware that marks the route (it only passes the request on). */
export function documented<const O extends Operation>(operation: O): Documented<O> {
  const mark: MiddlewareHandler = (_c, next) => next();
  return Object.assign(mark, { [OPERATION]: operation, operation });
}

type Shape = Record<string, z.ZodType>;

/** The query string as the operation's parameters take it; a 400 naming the parameter otherwise. */
export function queryOf<Q extends Shape>(
  c: Context,
  op: Documented<Operation & { query: Q }>,
): z.infer<z.ZodObject<Q>> {
  return parseWith(z.object(op.operation.query), c.req.query()) as z.infer<z.ZodObject<Q>>;
}

const jsonSchema = (schema: z.ZodType): JsonSchema => {
  // The input side: what a client sends (defaults optional, transforms by what they take).
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  return rest;
};

const SECURITY: Record<Auth, Record<string, string[]>[]> = {
  anyone: [],
  session: [{ session: [] }],
  read: [{ session: [] }, { apiKey: ['read'] }],
  ingest: [{ apiKey: ['ingest'] }, { session: [] }],
};

/** The API section a path belongs to: the first segment after its prefix. */
export function sectionOf(path: string): string {
  if (path.startsWith('/v1/')) return 'OpenTelemetry (OTLP/HTTP)';
  if (path.startsWith('/api/metrics')) return 'REST API of the seeds';
  const rest = path.replace(/^\/api\/(v1\/)?/, '').split('/')[0] ?? '';
  return rest === 'me' ? 'me' : rest;
}

type Parameter = { name: string; in: 'path' | 'query'; required: boolean; description?: string; schema: JsonSchema };
type DocOperation = {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  security: Record<string, string[]>[];
  parameters?: Parameter[];
  requestBody?: { required: boolean; description?: string; content: Record<string, { schema?: JsonSchema }> };
  responses: Record<string, unknown>;
};

export type OpenApiDocument = {
  openapi: string;
  info: { title: string; version: string; description: string };
  paths: Record<string, Record<string, DocOperation>>;
  components: Record<string, unknown>;
};

/** The OpenAPI 3.1 document of every documented route among `routes` (a Hono app's `routes`). */
export function openApiDocument(routes: readonly RouterRoute[], version: string): OpenApiDocument {
  const paths: OpenApiDocument['paths'] = {};
  for (const route of routes) {
    const op = (route.handler as Partial<Documented>)[OPERATION];
    if (!op) continue;
    const path = route.path.replace(/:([A-Za-z_]+)/g, '{$1}');
    const method = route.method.toLowerCase();
    const pathParams = [...route.path.matchAll(/:([A-Za-z_]+)/g)].map(
      (m): Parameter => ({ name: m[1]!, in: 'path', required: true, schema: { type: 'string' } }),
    );
    const queryParams = Object.entries(op.query ?? {}).map(([name, schema]): Parameter => {
      const s = jsonSchema(schema);
      const { description, ...rest } = s;
      return {
        name,
        in: 'query',
        required: !schema.safeParse(undefined).success,
        ...(typeof description === 'string' ? { description } : {}),
        schema: rest,
      };
    });
    const body = op.body
      ? {
          required: !op.body.safeParse(undefined).success,
          content: { 'application/json': { schema: jsonSchema(op.body) } },
        }
      : op.rawBody
        ? {
            required: true,
            description: op.rawBody.description,
            content: Object.fromEntries(op.rawBody.media.map((m) => [m, {}])),
          }
        : undefined;
    (paths[path] ??= {})[method] = {
      operationId: `${method}${path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_, ch: string | undefined) => (ch ?? '').toUpperCase())}`,
      summary: op.summary,
      ...(op.who ? { description: op.who } : {}),
      tags: [sectionOf(route.path)],
      security: SECURITY[op.auth],
      ...(pathParams.length + queryParams.length ? { parameters: [...pathParams, ...queryParams] } : {}),
      ...(body ? { requestBody: body } : {}),
      responses: {
        [String(op.status ?? 200)]: { description: op.answer ?? 'done' },
        '4XX': {
          description: 'refused: the error names the field when one is at fault',
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
        },
        '503': {
          description: 'storage unavailable; retry after `Retry-After` seconds',
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
        },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'agentmeter',
      version,
      description:
        'The JSON API and the ingest endpoints of this appliance. Times are ISO 8601 with a zone, a date (UTC midnight) or epoch milliseconds.',
    },
    paths,
    components: {
      schemas: { Error: jsonSchema(errorBodySchema) },
      securitySchemes: {
        apiKey: {
          type: 'http',
          scheme: 'bearer',
          description: 'An API key (`amk_…`) with the `ingest` and/or `read` scope',
        },
        session: {
          type: 'apiKey',
          in: 'cookie',
          name: SESSION_COOKIE,
          description: `A browser session; changes also need the page's CSRF token (the ${CSRF_HEADER} header)`,
        },
      },
    },
  };
}

/** A field of a body or a parameter, as the API page lists it. */
export type FieldRow = { name: string; type: string; required: boolean; notes: string };

const plural = (n: unknown, what: string) => `${String(n)} ${what}${n === 1 ? '' : 's'}`;
const CONSTRAINTS: [string, (v: unknown) => string][] = [
  ['minLength', (v) => `at least ${plural(v, 'character')}`],
  ['maxLength', (v) => `at most ${plural(v, 'character')}`],
  ['minimum', (v) => `≥ ${String(v)}`],
  ['maximum', (v) => `≤ ${String(v)}`],
  ['minItems', (v) => `at least ${plural(v, 'item')}`],
  ['maxItems', (v) => `at most ${plural(v, 'item')}`],
  ['pattern', (v) => `matches ${String(v)}`],
];

function typeOf(s: JsonSchema): string {
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.anyOf ?? s.oneOf) return [...new Set((s.anyOf ?? s.oneOf)!.map(typeOf))].join(' | ');
  if (s.type === 'array') return `array of ${s.items ? typeOf(s.items) : 'anything'}`;
  if (s.type === 'object' && !s.properties && typeof s.additionalProperties === 'object') return 'object (map)';
  return ([] as string[]).concat(s.type ?? 'any').join(' | ');
}

const FORMATS: Record<string, string> = { email: 'an email address', uri: 'a URL', 'date-time': 'an ISO 8601 time' };

function notesOf(s: JsonSchema): string {
  const notes = CONSTRAINTS.filter(([k]) => s[k] !== undefined && !(k === 'pattern' && s.format)).map(([k, text]) =>
    text(s[k]),
  );
  if (typeof s.format === 'string') notes.push(FORMATS[s.format] ?? `format ${s.format}`);
  if (s.default !== undefined) notes.push(`default ${JSON.stringify(s.default)}`);
  return [s.description, ...notes].filter(Boolean).join('; ');
}

/** A JSON Schema as rows, nested fields as dotted names (`items[].name`, `<key>.input`). */
export function fieldRows(schema: JsonSchema, prefix = '', depth = 0): FieldRow[] {
  const variants = variantsOf(schema);
  if (variants.length) return merged(variants.map((v) => fieldRows(v, prefix, depth)));
  const rows: FieldRow[] = [];
  const nested = (s: JsonSchema, name: string) => (depth < 4 ? fieldRows(s, name, depth + 1) : []);
  const hasFields = (s: JsonSchema) =>
    s.properties || typeof s.additionalProperties === 'object' || variantsOf(s).length;
  for (const [name, s] of Object.entries(schema.properties ?? {})) {
    const full = `${prefix}${name}`;
    rows.push({ name: full, type: typeOf(s), required: (schema.required ?? []).includes(name), notes: notesOf(s) });
    if (hasFields(s)) rows.push(...nested(s, `${full}.`));
    if (s.items && hasFields(s.items)) rows.push(...nested(s.items, `${full}[].`));
  }
  if (typeof schema.additionalProperties === 'object' && !schema.properties) {
    const value = schema.additionalProperties;
    rows.push({ name: `${prefix}<key>`, type: typeOf(value), required: false, notes: notesOf(value) });
    if (value.properties) rows.push(...nested(value, `${prefix}<key>.`));
  }
  return rows;
}

/** The alternatives of a union of objects (a rule's condition, a channel). */
const variantsOf = (s: JsonSchema) => (s.properties ? [] : (s.oneOf ?? s.anyOf ?? []).filter((v) => v.properties));

/** The fields of several alternatives as one list: a field's types joined, required only if every alternative requires it. */
function merged(lists: FieldRow[][]): FieldRow[] {
  const rows = new Map<string, FieldRow>();
  for (const row of lists.flat()) {
    const seen = rows.get(row.name);
    const join = (a: string, b: string, sep: string) =>
      [...new Set([...a.split(sep), ...b.split(sep)].filter(Boolean))].join(sep);
    rows.set(
      row.name,
      seen
        ? {
            name: row.name,
            type: join(seen.type, row.type, ' | '),
            required: seen.required && row.required,
            notes: join(seen.notes, row.notes, '; '),
          }
        : row,
    );
  }
  for (const row of rows.values())
    if (lists.some((list) => !list.some((r) => r.name === row.name))) row.required = false;
  return [...rows.values()];
}

export type PageOperation = {
  id: string;
  method: string;
  path: string;
  summary: string;
  who: string;
  auth: string;
  status: string;
  params: FieldRow[];
  body: FieldRow[] | null;
  bodyNote: string | null;
  media: string[];
};

const AUTH_TEXT = (security: Record<string, string[]>[]) =>
  security.length === 0
    ? 'anyone'
    : security.map((s) => (s.session ? 'a browser session' : `an API key with ${s.apiKey!.join(', ')}`)).join(' or ');

/** The document as the API page shows it: operations by section, with their parameters and body fields. */
export function pageSections(doc: OpenApiDocument): { name: string; operations: PageOperation[] }[] {
  const sections = new Map<string, PageOperation[]>();
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const params: FieldRow[] = (op.parameters ?? []).map((p) => ({
        name: p.in === 'path' ? `{${p.name}}` : p.name,
        type: typeOf(p.schema),
        required: p.required,
        notes: [p.in === 'path' ? 'in the path' : '', p.description, notesOf(p.schema)].filter(Boolean).join('; '),
      }));
      const content = op.requestBody?.content ?? {};
      const json = content['application/json']?.schema;
      const entry: PageOperation = {
        id: op.operationId,
        method: method.toUpperCase(),
        path,
        summary: op.summary,
        who: op.description ?? '',
        auth: AUTH_TEXT(op.security),
        status: Object.keys(op.responses)[0]!,
        params,
        body: json ? fieldRows(json) : null,
        bodyNote: op.requestBody?.description ?? null,
        media: Object.keys(content),
      };
      const section = op.tags[0]!;
      sections.set(section, [...(sections.get(section) ?? []), entry]);
    }
  }
  return [...sections].map(([name, operations]) => ({
    name,
    operations: operations.sort((a, b) => a.path.localeCompare(b.path) || a.method.localeCompare(b.method)),
  }));
}
