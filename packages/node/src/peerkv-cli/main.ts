/**
 * `peerkv`: parse, connect, run one command, print, close, and answer the exit code (the bin
 * sets it and lets the process end by itself). Errors go to stderr as `kind: message`.
 */
import { NodePeerKV, type ConnectOptions } from '../connect.ts';
import { CliUsageError, PEERKV_CLI_USAGE, parseCliArgs, wantsCliHelp } from './args.ts';
import { runCommand, type CliClient } from './commands.ts';
import { EXIT, errorLine, exitCodeOf, type ExitCode } from './exit-codes.ts';
import { toJson } from './format.ts';
import { isWitnessCredentialCommand, witnessCredential } from './witness-credential.ts';

/** Where the CLI reads and writes. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  /** All of stdin (read only by `txn`). */
  stdin(): Promise<string>;
  /** Fires on SIGINT/SIGTERM (the bin wires it): a `watch` stops and the CLI exits 0. */
  signal?: AbortSignal;
}

/** How the CLI gets a client (`NodePeerKV.connect`; tests pass an in-process one). */
export type CliConnect = (o: ConnectOptions) => Promise<CliClient & { close(): unknown }>;

/** Runs the command line; answers the exit code. Never throws. */
export async function runCli(argv: readonly string[], env: Readonly<Record<string, string | undefined>>, io: CliIo, connect: CliConnect = (o) => NodePeerKV.connect(o)): Promise<ExitCode> {
  if (wantsCliHelp(argv)) {
    io.out(PEERKV_CLI_USAGE);
    return EXIT.ok;
  }
  let kv: (CliClient & { close(): unknown }) | undefined;
  try {
    // Offline: derived from the secret here, nothing to connect to.
    if (isWitnessCredentialCommand(argv)) {
      io.out(await witnessCredential(argv, env));
      return EXIT.ok;
    }
    const c = parseCliArgs(argv, env);
    kv = await connect(c.connect);
    const r = await runCommand(kv, c, { stdin: () => io.stdin(), out: (line) => io.out(line), ...(io.signal ? { signal: io.signal } : {}) });
    if (c.output.json && r.json !== undefined) io.out(toJson(r.json, c.output));
    else if (!c.output.json && r.text !== '') io.out(r.text);
    return r.exitCode;
  } catch (e) {
    io.err(`peerkv: ${errorLine(e)}`);
    const code = exitCodeOf(e);
    if (code === EXIT.usage) io.err('run peerkv --help for the commands and flags');
    return code;
  } finally {
    await kv?.close();
  }
}

/** Reads all of stdin as UTF-8, at most `bytesMax` bytes (more is an error). */
export async function readStdin(bytesMax: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of process.stdin) {
    const b = c as Buffer;
    n += b.length;
    if (n > bytesMax) throw new CliUsageError(`stdin is over ${bytesMax} bytes`);
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}
