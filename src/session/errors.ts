// One error hierarchy for the session store: every error says what failed
// with a stable code (for logs and tests) and keeps the underlying error as
// its cause, so a memjs socket error is still there to read.

export type SessionErrorCode =
  | 'SESSION_CONFIG'
  | 'SESSION_ID'
  | 'SESSION_FORMAT'
  | 'MEMCACHED_UNAVAILABLE'
  | 'MEMCACHED_TIMEOUT'
  | 'NO_NODE'
  | 'LOCK_TIMEOUT';

export class SessionError extends Error {
  readonly code: SessionErrorCode;
  constructor(code: SessionErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A Manager attribute MSM would refuse at start (Tomcat fails the context). */
export class SessionConfigError extends SessionError {
  constructor(message: string) {
    super('SESSION_CONFIG', message);
  }
}

/** A session id that cannot be used: forged, too long, or naming no node. */
export class SessionIdError extends SessionError {
  constructor(message: string) {
    super('SESSION_ID', message);
  }
}

/** Bytes under a session key that are not MSM's format. */
export class SessionFormatError extends SessionError {
  constructor(message: string, cause?: unknown) {
    super('SESSION_FORMAT', message, { cause });
  }
}

/** A memcached node refused, dropped or did not answer an operation. */
export class MemcachedError extends SessionError {
  readonly node: string;
  constructor(code: 'MEMCACHED_UNAVAILABLE' | 'MEMCACHED_TIMEOUT', node: string, message: string, cause?: unknown) {
    super(code, message, { cause });
    this.node = node;
  }
}

/** No memcached node is available for a key (MSM: "No node found for key"). */
export class NoNodeError extends SessionError {
  constructor(message: string) {
    super('NO_NODE', message);
  }
}

/** The lock could not be taken within operationTimeout; MSM goes on without it. */
export class LockTimeoutError extends SessionError {
  constructor(message: string) {
    super('LOCK_TIMEOUT', message);
  }
}
