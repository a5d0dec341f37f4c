/**
 * `peerkv witness-credential`: prints the credential a witness store runs with
 * (`peerkv-store --witness --witness-credential C`, `peerkv-signaling --witness DIR
 * --witness-credential C`), derived from the cluster secret. It needs no connection: it runs
 * where the secret is, and only the credential travels to the host of the witness. The
 * credential holds the membership and signaling keys, never the data key (`@peerkv/transport`'s
 * credentials.ts), so the witness stores sealed payloads it cannot read.
 */
import { deriveWitnessCredential } from '@peerkv/transport';
import { CliUsageError } from './args.ts';

/** The command's name. */
export const WITNESS_CREDENTIAL_COMMAND = 'witness-credential';

/** Whether `argv` runs `witness-credential` (the first argument that is not a flag or a flag's value). */
export function isWitnessCredentialCommand(argv: readonly string[]): boolean {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--cluster' || argv[i] === '--secret') i++;
    else if (!argv[i].startsWith('-')) return argv[i] === WITNESS_CREDENTIAL_COMMAND;
  }
  return false;
}

/** The credential for `--cluster` / `--secret` (or `PEERKV_CLUSTER` / `PEERKV_SECRET`). Throws `CliUsageError`. */
export async function witnessCredential(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Promise<string> {
  let cluster = env.PEERKV_CLUSTER;
  let secret = env.PEERKV_SECRET;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === WITNESS_CREDENTIAL_COMMAND) continue;
    if (a !== '--cluster' && a !== '--secret') throw new CliUsageError(`${WITNESS_CREDENTIAL_COMMAND} takes --cluster and --secret only, got '${a}'`);
    const v = argv[++i];
    if (v === undefined || v === '') throw new CliUsageError(`${a} needs a value`);
    if (a === '--cluster') cluster = v;
    else secret = v;
  }
  if (!cluster) throw new CliUsageError(`${WITNESS_CREDENTIAL_COMMAND} needs --cluster NAME (or PEERKV_CLUSTER)`);
  if (!secret) throw new CliUsageError(`${WITNESS_CREDENTIAL_COMMAND} needs --secret S (or PEERKV_SECRET)`);
  try {
    return await deriveWitnessCredential(cluster, secret);
  } catch (e) {
    throw new CliUsageError((e as Error).message);
  }
}
