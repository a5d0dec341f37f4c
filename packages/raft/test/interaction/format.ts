/** Text forms of Raft data for golden files (close to etcd's `raft.DescribeMessage`). */
import type { ConfState, Entry, Message, Ready } from '../../src/index.ts';
import { decodeConfChange } from '../../src/index.ts';

const decoder = new TextDecoder();

export function formatEntry(e: Entry): string {
  if (e.type === 'confChange') {
    const cc = decodeConfChange(e.data);
    const body = cc.changes.map((c) => `${c.type === 'addNode' ? 'v' : c.type === 'addLearnerNode' ? 'l' : 'r'}${c.nodeId}`).join(' ');
    return `${e.term}/${e.index} EntryConfChangeV2${body ? ' ' + body : ''}${cc.transition !== 'auto' ? ` transition=${cc.transition}` : ''}`;
  }
  return `${e.term}/${e.index} EntryNormal ${JSON.stringify(decoder.decode(e.data))}`;
}

export function formatConfState(cs: ConfState): string {
  const parts = [`voters=(${cs.voters.join(' ')})`];
  if (cs.votersOutgoing.length) parts[0] = `voters=(${cs.voters.join(' ')})&&(${cs.votersOutgoing.join(' ')})`;
  if (cs.learners.length) parts.push(`learners=(${cs.learners.join(' ')})`);
  if (cs.learnersNext.length) parts.push(`learners_next=(${cs.learnersNext.join(' ')})`);
  if (cs.autoLeave) parts.push('autoleave');
  return parts.join(' ');
}

export function formatMessage(m: Message): string {
  let s = `${m.from}->${m.to} ${m.type} Term:${m.term} Log:${m.logTerm}/${m.index}`;
  if (m.reject) s += ` Rejected (Hint: ${m.rejectHint})`;
  if (m.commit !== 0) s += ` Commit:${m.commit}`;
  if (m.entries.length > 0) {
    s += ` Entries:[${m.entries.map((e) => (m.type === 'MsgReadIndex' || m.type === 'MsgReadIndexResp' ? JSON.stringify(decoder.decode(e.data)) : formatEntry(e))).join(', ')}]`;
  }
  if (m.context && m.context.length) s += ` Context:${JSON.stringify(decoder.decode(m.context))}`;
  if (m.snapshot) {
    const md = m.snapshot.metadata;
    s += ` Snapshot: Index:${md.index} Term:${md.term} ConfState:${formatConfState(md.confState)}`;
  }
  return s;
}

export function formatReady(rd: Ready): string[] {
  const out: string[] = ['Ready MustSync=' + rd.mustSync + ':'];
  if (rd.softState) out.push(`State:${rd.softState.role} Lead:${rd.softState.lead}`);
  if (rd.hardState) out.push(`HardState Term:${rd.hardState.term} Vote:${rd.hardState.vote} Commit:${rd.hardState.commit}`);
  if (rd.snapshot) {
    const md = rd.snapshot.metadata;
    out.push(`Snapshot Index:${md.index} Term:${md.term} ConfState:${formatConfState(md.confState)}`);
  }
  if (rd.entries.length) out.push('Entries:', ...rd.entries.map(formatEntry));
  if (rd.committedEntries.length) out.push('CommittedEntries:', ...rd.committedEntries.map(formatEntry));
  if (rd.readStates.length) out.push('ReadStates:', ...rd.readStates.map((r) => `Index:${r.index} Ctx:${JSON.stringify(decoder.decode(r.requestCtx))}`));
  if (rd.messages.length) out.push('Messages:', ...rd.messages.map(formatMessage));
  if (rd.persistedMessages.length) out.push('PersistedMessages (sent after the write):', ...rd.persistedMessages.map(formatMessage));
  return out;
}
