import { DEFAULT_HEARTBEAT, type Heartbeat } from './heartbeat.js';
import { DEFAULT_CAPACITY, type CapacitySettings } from '../engine/capacity.js';

/** Every limit a client can hit, with the setting that raises it, so errors can name both. */
export interface Limits {
  /** Largest binary frame accepted; larger ones are answered with an error and not buffered. */
  maxFrameBytes: number;
  /** Audio a connection may buffer between flushes; past it frames are refused, not dropped. */
  maxBufferSeconds: number;
  maxConnections: number;
  /** Inference jobs that may wait behind the running one. */
  maxQueue: number;
  /** Engine load past which new sessions are refused (at_capacity); DEFAULT_CAPACITY when unset. */
  capacity?: CapacitySettings;
  /** Pings to every WebSocket peer, and how long an answer may take; DEFAULT_HEARTBEAT when unset. */
  heartbeat?: Heartbeat;
}

export const DEFAULT_LIMITS: Limits = {
  maxFrameBytes: 1024 * 1024,
  maxBufferSeconds: 120,
  maxConnections: 64,
  maxQueue: 32,
  capacity: DEFAULT_CAPACITY,
  heartbeat: DEFAULT_HEARTBEAT,
};

/**
 * ws itself closes the socket (1009) past this size; it sits well above maxFrameBytes so that
 * ordinary oversize frames get a readable error and the connection lives on.
 */
export const hardPayloadLimit = (limits: Limits) => limits.maxFrameBytes * 4;
