/**
 * The requirements chiprig checks (fixtures/requirements.yaml): each catalogue case with its
 * transports, the source that requires it and its strength. A breach of a `required` or
 * `security` case fails its test; `disputed` cases pass every sanctioned behaviour and record
 * the one observed; `advisory` breaches are shown apart and change the exit code only under
 * `--strict`.
 */
import { z } from 'zod';
import { deviceFault } from '../errors.ts';
import { packagePath } from '../paths.ts';
import { readYamlFile } from '../yaml-file.ts';

export const STRENGTHS = ['required', 'security', 'disputed', 'advisory'] as const;
export type Strength = (typeof STRENGTHS)[number];

const behaviourName = z.string().regex(/^[a-z0-9-]+$/, 'a behaviour name in lowercase, e.g. legacy-echo');

const SanctionedSchema = z.strictObject({
  /** The behaviour's name: what the emulator settings and profiles use to name it. */
  name: behaviourName,
  what: z.string().min(1),
  /** Where this behaviour is expected (an anchor's test, a spec section, an issue). */
  anchor: z.string().min(1),
});

export const RequirementSchema = z
  .strictObject({
    id: z.string().regex(/^[A-Z0-9]+(?:-[A-Z0-9]+)+$/, 'an ID such as U2F-REG-04'),
    /** The entry covers ID-01, ID-02, ... (one test per profile value, e.g. a sweep point). */
    series: z.boolean().optional(),
    title: z.string().min(1),
    transports: z.array(z.enum(['hid', 'nfc', 'ble'])).min(1),
    strength: z.enum(STRENGTHS),
    source: z.string().min(1),
    sanctioned: z.array(SanctionedSchema).min(1).optional(),
  })
  .refine(
    (r) => (r.strength === 'disputed') === (r.sanctioned !== undefined),
    'a disputed requirement lists its sanctioned behaviours (sanctioned:), and only a disputed one does',
  )
  .refine(
    (r) => new Set(r.sanctioned?.map((s) => s.name)).size === (r.sanctioned?.length ?? 0),
    'sanctioned behaviour names must be distinct',
  );

export const RequirementsSchema = z
  .array(RequirementSchema)
  .min(1)
  .refine((list) => new Set(list.map((r) => r.id)).size === list.length, 'requirement IDs must be distinct');

export type Requirement = z.output<typeof RequirementSchema>;
export type Sanctioned = z.output<typeof SanctionedSchema>;

export const REQUIREMENTS_FILE = packagePath('fixtures/requirements.yaml');

/** The requirements, indexed by ID. */
export class Requirements {
  readonly list: readonly Requirement[];
  readonly #byId: Map<string, Requirement>;

  constructor(list: readonly Requirement[]) {
    this.list = list;
    this.#byId = new Map(list.map((r) => [r.id, r]));
  }

  /** The entry for a test's ID: its own, or its series' (ENV-TEMP-03 → ENV-TEMP). */
  get(id: string): Requirement | undefined {
    const own = this.#byId.get(id);
    if (own) return own;
    const series = /^(.*)-\d+$/.exec(id)?.[1];
    const entry = series ? this.#byId.get(series) : undefined;
    return entry?.series ? entry : undefined;
  }

  /**
   * A case's strength. Scenario files (SCN-...) are the lab's own expectations, judged as
   * required; any other ID missing from the file is too (npm test keeps the file complete).
   */
  strengthOf(id: string): Strength {
    return this.get(id)?.strength ?? 'required';
  }
}

let loaded: Requirements | undefined;

export function requirements(): Requirements {
  loaded ??= new Requirements(readYamlFile(REQUIREMENTS_FILE, RequirementsSchema, 'requirements file'));
  return loaded;
}

/** A profile's narrowing of one disputed point to the behaviour its vendor documents. */
export interface Narrowing {
  expect: string;
  source: string;
}

/**
 * Judges what a device did on a disputed point. `observed` is the sanctioned behaviour the
 * case recognised in the answer, or undefined when the answer is none of them. Returns the
 * observation to record, or throws the failure message (with the bytes in `shown`).
 */
export function judgeDisputed(
  req: Requirement,
  observed: string | undefined,
  shown: string,
  narrowing?: Narrowing,
): string {
  const sanctioned = req.sanctioned ?? [];
  const list = sanctioned.map((s) => `${s.name} (${s.what}; ${s.anchor})`).join('; ');
  const match = sanctioned.find((s) => s.name === observed);
  if (!match) {
    throw deviceFault(`${req.id}: ${shown} is none of the sanctioned behaviours: ${list}`);
  }
  if (narrowing && narrowing.expect !== match.name) {
    throw deviceFault(
      `${req.id}: the device showed ${match.name} (${shown}); the device profile narrows this disputed point to ${narrowing.expect}, as documented in ${narrowing.source}`,
    );
  }
  return `${req.id} disputed point: ${match.name} (${match.what}; ${match.anchor})${narrowing ? `, as the profile requires (${narrowing.source})` : '; every sanctioned behaviour passes'}: ${shown}`;
}
