export {
  MAX_SHARES,
  ROOT_KEY_AAD,
  SHARE_BYTES,
  SealManager,
  WRAP_FORMAT_V1,
} from './seal-manager.ts';
export type { InitResult, SealListener, SealState, SealStatus } from './seal-manager.ts';
export { GCM_IV_BYTES, GCM_KEY_BYTES, GCM_TAG_BYTES, gcmOpen, gcmSeal } from './envelope.ts';
