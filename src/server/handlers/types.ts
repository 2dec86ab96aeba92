import type { Reply } from '../../protocol/replies.js';
import type { Session } from '../session.js';

/** One entry of the command table. */
export interface CommandSpec {
  run(session: Session, arg: string): Promise<Reply | void> | Reply | void;
  /** Allowed before login. */
  public?: boolean;
  /** Answered at once while a transfer runs (STAT, NOOP). */
  duringTransfer?: boolean;
  /** Runs as soon as the line is read, ahead of the commands queued before it (ABOR stops the transfer). */
  onArrival?(session: Session, arg: string): void;
  arg?: 'required' | 'none' | 'optional';
  /** Argument syntax, for HELP and 501 replies. */
  syntax?: string;
  /** The FEAT line(s) this command adds. */
  feat?: string | ((session: Session) => string | string[]);
}

export type CommandTable = Record<string, CommandSpec>;
