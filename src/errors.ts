/**
 * A problem with the user's own input (a flag, a hosts file, a chaos spec, an
 * option passed to the API): its message is fit to print as is; the CLI exits
 * with code 2.
 */
export class InputError extends Error {
  override name = "InputError";
}
