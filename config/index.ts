export * from './types.js';
export * from './ip.js';
export * from './selector.js';
export * from './duration.js';
export { ConfigError } from './errors.js';
export {
  parseConfig,
  summarizeErrors,
  poolServes,
  poolServesWhyNot,
  parseCommunityLiteral,
  type ParseResult,
} from './parse.js';
