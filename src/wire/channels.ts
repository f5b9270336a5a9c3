/**
 * Channels of protocol modules (docs/wire-format.md, "Channels"): each
 * module's messages travel in `Envelope.module` under its own number, so
 * that modules share a peer without recognising each other's bytes.
 * Append-only, like field numbers: a number once given is never reused.
 */

/** The group layer: views, virtual synchrony, state transfer (`GroupMessage`; docs/groups.md). */
export const GROUP_CHANNEL = 1;

/** Largest channel number a peer accepts; larger ones are dropped as `unknown-channel`. */
export const CHANNEL_MAX = 0xffff;
