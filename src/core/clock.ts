// Time is injected so that tests can move it (grace periods, token expiry) without sleeping.
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
