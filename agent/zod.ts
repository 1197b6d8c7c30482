// zod, as herd uses it: the mini build, with English messages (the same words the classic
// build wrote). The classic build gives every schema instance some fifty closures of its own;
// mini's schemas share their methods through prototypes. Only what herd uses is re-exported
// by name, so the bundle leaves out zod's other locales, JSON Schema and the rest (a namespace
// re-export would keep all of it). Every module takes it whole, as `z`; importing this
// module also sets the messages, before any schema parses.
import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

config(en());

export {
  _default, array, boolean, discriminatedUnion, enum, extend, int, iso, literal, maxLength, maximum, minLength, minimum,
  nonnegative, nullable, number, object, optional, pipe, positive, prefault, record, regex, startsWith, strictObject, string,
  superRefine, transform, union, url,
} from 'zod/mini';
export type { infer, ZodMiniType } from 'zod/mini';
export type { $ZodError as SchemaError, $RefinementCtx as RefinementCtx } from 'zod/v4/core';
