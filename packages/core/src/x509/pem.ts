/** One PEM block: its label (`CERTIFICATE`, `PRIVATE KEY`, ...) and its text, markers included. */
export interface PemBlock {
  label: string;
  pem: string;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]*?)-----END \1-----/g;
const BEGIN = /-----BEGIN [A-Z0-9 ]+-----/g;

/**
 * Splits PEM text into its blocks, in order. Text between blocks is allowed (RFC 7468's
 * explanatory text), but a BEGIN marker without a matching END, or with anything but base64
 * inside, makes the whole text invalid: that is what a truncated or corrupt file looks like.
 */
export function splitPem(text: string): { blocks: PemBlock[]; malformed: number } {
  const blocks: PemBlock[] = [];
  for (const match of text.matchAll(BLOCK)) {
    blocks.push({ label: match[1] ?? '', pem: `${match[0]}\n` });
  }
  const begins = text.match(BEGIN)?.length ?? 0;
  return { blocks, malformed: begins - blocks.length };
}
