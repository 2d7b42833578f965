import { readFileSync } from 'node:fs';
import { type Document, isNode, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from './errors.ts';

/** A parsed YAML file, checked against a schema, that can say where each value stands. */
export interface YamlFile<T> {
  data: T;
  /** The 1-based line of the value at `path` (or of its nearest ancestor that exists). */
  lineOf(path: readonly (string | number)[]): number | undefined;
}

/**
 * Reads a YAML file and validates it with a schema. Every problem becomes a ConfigError
 * that names the file, the line and the field path, so a lab engineer can fix the file
 * without reading code.
 */
export function readYamlFile<S extends z.ZodType>(path: string, schema: S, what: string): z.output<S> {
  return loadYamlFile(path, schema, what).data;
}

export function loadYamlFile<S extends z.ZodType>(
  path: string,
  schema: S,
  what: string,
): YamlFile<z.output<S>> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(
      `${what} ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? error})`,
      { cause: error },
    );
  }
  return parseYamlText(text, path, schema, what);
}

export function parseYamlText<S extends z.ZodType>(
  text: string,
  path: string,
  schema: S,
  what: string,
): YamlFile<z.output<S>> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: true, lineCounter });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    const line = first.linePos?.[0]?.line;
    throw new ConfigError(
      `${what} ${path}${line ? `:${line}` : ''}: not valid YAML: ${first.message.split('\n')[0]}`,
    );
  }
  const lineOf = (at: readonly (string | number)[]) => lineAt(doc, lineCounter, at);
  const result = schema.safeParse(doc.toJS());
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      // An unknown key is shown where the key stands, not where its object starts.
      const keys = (issue as { keys?: string[] }).keys;
      const at = [...(issue.path as (string | number)[]), ...(keys?.length ? [keys[0]!] : [])];
      return { line: lineOf(at), text: `field "${issue.path.join('.') || '(top level)'}": ${issue.message}` };
    });
    const [first, ...rest] = problems;
    throw new ConfigError(
      `${what} ${path}${first!.line ? `:${first!.line}` : ''}: ${first!.text}${rest
        .map((p) => `; ${p.line ? `line ${p.line}: ` : ''}${p.text}`)
        .join('')}`,
    );
  }
  return { data: result.data, lineOf };
}

function lineAt(doc: Document, counter: LineCounter, path: readonly (string | number)[]): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
    if (isNode(node) && node.range) return counter.linePos(node.range[0]).line;
  }
  return undefined;
}
