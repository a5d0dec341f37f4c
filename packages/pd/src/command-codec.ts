/**
 * Bytes for `PdCommand`s in PD's Raft log: a compact binary encoding (`@peerkv/proto`).
 * The first varUint is the command type (the order of `COMMAND_KINDS`, append only); an
 * unknown type, a truncated body, trailing bytes or a field past its limit throw
 * `PdDecodeError`. Binary rather than JSON because keys are bytes and heartbeats are frequent.
 */
import {
  ADDRESS_BYTES_MAX,
  ByteWriter,
  readEpoch,
  readLabels,
  readPeers,
  readRegion,
  readRegionHeartbeat,
  readStoreMeta,
  readStorePublicKey,
  readStoreState,
  readStoreStats,
  readTimestamp,
  writeEpoch,
  writeLabels,
  writePeers,
  writeRegion,
  writeRegionHeartbeat,
  writeStoreMeta,
  writeStorePublicKey,
  writeStoreState,
  writeStoreStats,
  writeTimestamp,
  type ByteReader,
} from '@peerkv/proto';
import { readScheduleConfig, readScheduleConfigTail, writeScheduleConfig, writeScheduleConfigTail } from './codec/config-codec.ts';
import { pdDecoding } from './codec/decoding.ts';
import type { PdCommand } from './command.ts';
import { PdDecodeError } from './errors.ts';
import { ID_BATCH_MAX } from './limits.ts';

/** Wire order of command kinds (append only). */
export const COMMAND_KINDS = [
  'bootstrap',
  'allocIds',
  'tsoSaveWindow',
  'putStore',
  'storeHeartbeat',
  'setStoreState',
  'regionHeartbeat',
  'setScheduleConfig',
  'setGcSafePoint',
] as const satisfies readonly PdCommand['kind'][];

/** Encodes a command for a Raft log entry. */
export function encodePdCommand(cmd: PdCommand): Uint8Array {
  const w = new ByteWriter();
  w.varUint(COMMAND_KINDS.indexOf(cmd.kind));
  writeBody(w, cmd);
  return w.finish();
}

function writeBody(w: ByteWriter, cmd: PdCommand): void {
  switch (cmd.kind) {
    case 'bootstrap':
      w.varUint(cmd.clusterId);
      writeStoreMeta(w, cmd.store);
      writeRegion(w, cmd.region);
      w.varUint(cmd.pdGroup.regionId);
      writeEpoch(w, cmd.pdGroup.epoch);
      writePeers(w, cmd.pdGroup.peers);
      w.varUint(cmd.nowMs);
      // Last: a bootstrap logged before store keys ends here.
      return writeStorePublicKey(w, cmd.store.publicKey);
    case 'allocIds':
      w.varUint(cmd.count);
      w.varUint(cmd.requesterId);
      w.varUint(cmd.requesterTerm);
      w.varUint(cmd.requestSeq);
      return;
    case 'tsoSaveWindow':
      w.varUint(cmd.maxPhysicalMs);
      w.varUint(cmd.requesterId);
      w.varUint(cmd.requesterTerm);
      return;
    case 'putStore':
      w.varUint(cmd.storeId);
      w.string(cmd.address);
      writeLabels(w, cmd.labels);
      w.varUint(cmd.nowMs);
      // Last: a putStore logged before store keys ends here.
      return writeStorePublicKey(w, cmd.publicKey);
    case 'storeHeartbeat':
      writeStoreStats(w, cmd.stats);
      w.varUint(cmd.nowMs);
      return;
    case 'setStoreState':
      w.varUint(cmd.storeId);
      writeStoreState(w, cmd.state);
      w.bool(cmd.force);
      return;
    case 'regionHeartbeat':
      writeRegionHeartbeat(w, cmd.heartbeat);
      w.varUint(cmd.nowMs);
      return;
    case 'setScheduleConfig':
      writeScheduleConfig(w, cmd.config);
      writeScheduleConfigTail(w, cmd.config);
      return;
    case 'setGcSafePoint':
      writeTimestamp(w, cmd.safePoint);
      return;
  }
}

/** Decodes a command; throws `PdDecodeError` on malformed input. */
export function decodePdCommand(data: Uint8Array): PdCommand {
  return pdDecoding(data, 'command', (r) => {
    const tag = r.varUint();
    const kind = COMMAND_KINDS[tag];
    if (kind === undefined) throw new PdDecodeError('UnknownTag', `command type ${tag}`);
    return readBody(r, kind);
  });
}

function readBody(r: ByteReader, kind: PdCommand['kind']): PdCommand {
  switch (kind) {
    case 'bootstrap': {
      const clusterId = r.varUint();
      const store = readStoreMeta(r);
      const region = readRegion(r);
      const regionId = r.varUint();
      const epoch = readEpoch(r);
      const peers = readPeers(r);
      const nowMs = r.varUint();
      const publicKey = readStorePublicKey(r);
      return { kind, clusterId, store: publicKey ? { ...store, publicKey } : store, region, pdGroup: { regionId, epoch, peers }, nowMs };
    }
    case 'allocIds': {
      const count = r.varUintMax(ID_BATCH_MAX, 'id batch');
      const requesterId = r.varUint();
      const requesterTerm = r.varUint();
      return { kind, count, requesterId, requesterTerm, requestSeq: r.varUint() };
    }
    case 'tsoSaveWindow': {
      const maxPhysicalMs = r.varUint();
      const requesterId = r.varUint();
      return { kind, maxPhysicalMs, requesterId, requesterTerm: r.varUint() };
    }
    case 'putStore': {
      const storeId = r.varUint();
      const address = r.string(ADDRESS_BYTES_MAX, 'address');
      const labels = readLabels(r);
      const nowMs = r.varUint();
      const publicKey = readStorePublicKey(r);
      return { kind, storeId, address, labels, nowMs, ...(publicKey ? { publicKey } : {}) };
    }
    case 'storeHeartbeat': {
      const stats = readStoreStats(r);
      return { kind, stats, nowMs: r.varUint() };
    }
    case 'setStoreState': {
      const storeId = r.varUint();
      const state = readStoreState(r);
      return { kind, storeId, state, force: r.bool() };
    }
    case 'regionHeartbeat': {
      const heartbeat = readRegionHeartbeat(r);
      return { kind, heartbeat, nowMs: r.varUint() };
    }
    case 'setScheduleConfig':
      return { kind, config: readScheduleConfigTail(r, readScheduleConfig(r)) };
    case 'setGcSafePoint':
      return { kind, safePoint: readTimestamp(r) };
  }
}
