/**
 * Limits shared by more than one layer (the hosts parser and the peer), kept
 * apart so that neither imports the other for them.
 */

/** Largest group a peer accepts: ids are 16-bit on the wire, and every peer keeps one session per other peer. */
export const PEERS_MAX = 4096;
