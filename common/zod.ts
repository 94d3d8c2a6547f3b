/**
 * The project's one zod: the parts of `zod/mini` it uses, with English
 * messages. The classic `zod` entry bundles every locale and its
 * method-chaining classes (741 KB); importing it cost every first
 * configuration load, that is every Create, about 60 ms. Mini loads no
 * locale by itself, and error messages name the problem to users, so
 * English is configured here, once, for every importer. Importers write
 * `import * as z from ".../common/zod.ts"`; the names are listed one by one
 * (not the whole namespace) so that the bundler leaves the rest out.
 * @module
 */
import { config } from "zod/mini";
import en from "zod/v4/locales/en.js";

config(en());

export {
  _default,
  array,
  bigint,
  boolean,
  enum,
  int,
  literal,
  maximum,
  maxLength,
  minimum,
  minLength,
  nullable,
  number,
  object,
  optional,
  prefault,
  record,
  refine,
  regex,
  strictObject,
  string,
  tuple,
  union,
  unknown,
} from "zod/mini";
export type { infer, input, ZodMiniType } from "zod/mini";
export type { $ZodIssue } from "zod/v4/core";
