/**
 * How the suites are laid out: each suite is a folder, suites/<suite>/*.spec.ts. Kept here,
 * beside the suites, so both they (policy per suite) and the CLI (the tape's suite of each
 * result) read a spec file's suite the same way.
 */

/** The suite a spec file belongs to (suites/<suite>/*.spec.ts), if it is one. */
export function suiteOf(file: string | undefined): string | undefined {
  return file ? /[\\/]suites[\\/]([^\\/]+)[\\/][^\\/]+$/.exec(file)?.[1] : undefined;
}
