/** Copying a command: the Clipboard API where the page may use it (HTTPS or localhost), otherwise the
 * text is selected so the user can copy it with the keyboard — consoles are often served over plain HTTP. */

export type CopyOutcome = 'copied' | 'selected'

function select(element: HTMLElement): void {
  const selection = window.getSelection()
  selection?.removeAllRanges()
  selection?.selectAllChildren(element)
}

export async function copyText(text: string, element: HTMLElement | null): Promise<CopyOutcome> {
  try {
    if (!navigator.clipboard) throw new Error('no clipboard')
    await navigator.clipboard.writeText(text)
    return 'copied'
  } catch {
    if (element) select(element)
    // The old command still works on plain HTTP in most browsers; it copies the selection.
    const copied = typeof document.execCommand === 'function' && document.execCommand('copy')
    return copied ? 'copied' : 'selected'
  }
}
