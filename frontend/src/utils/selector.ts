/** Label selectors as the user writes them (`env=prod, arch!=aarch64`) and as the API takes them. */

/** Blanks around the terms are the user's spacing, not part of a key or value; empty terms say nothing. */
export function normalizeSelector(text: string): string {
  return text
    .split(',')
    .map((term) => term.trim())
    .filter(Boolean)
    .join(',')
}
