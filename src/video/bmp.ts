/**
 * Minimal BMP decoder. sharp's prebuilt libvips has no BMP loader, so image-sequence folders of
 * `.bmp` frames are decoded here into raw RGB and handed to sharp as raw input.
 *
 * Supported: Windows BMP with BITMAPCOREHEADER (12 bytes), BITMAPINFOHEADER (40) or V2..V5 headers,
 * uncompressed (`BI_RGB`) 1/4/8-bit paletted, 16/24/32-bit, and `BI_BITFIELDS` /
 * `BI_ALPHABITFIELDS` 16/32-bit; bottom-up and top-down rows. Not supported: RLE, embedded
 * JPEG/PNG, colour profiles (ignored). Alpha is dropped.
 */

/** A decoded BMP: interleaved `[H, W, 3]` RGB bytes, top row first. */
export interface DecodedBmp {
  width: number;
  height: number;
  /** `[H, W, 3]` interleaved R, G, B, 0..255, length `width * height * 3`. */
  data: Buffer;
}

/** True when the buffer starts with the BMP signature `BM`. */
export function isBmp(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === 0x42 && buf[1] === 0x4d;
}

/** Reads only the header of a BMP: its width and height in pixels. @throws Error when malformed. */
export function bmpSize(buf: Buffer): { width: number; height: number } {
  const h = parseHeader(buf);
  return { width: h.width, height: h.height };
}

interface BmpHeader {
  width: number;
  height: number;
  topDown: boolean;
  bpp: number;
  compression: number;
  dataOffset: number;
  paletteOffset: number;
  paletteEntrySize: number;
  paletteCount: number;
  masks: [number, number, number] | undefined;
}

function parseHeader(buf: Buffer): BmpHeader {
  if (!isBmp(buf) || buf.length < 26) throw new Error('not a BMP file (bad signature or too short)');
  const dataOffset = buf.readUInt32LE(10);
  const dibSize = buf.readUInt32LE(14);
  let width: number;
  let rawHeight: number;
  let bpp: number;
  let compression = 0;
  let paletteCount = 0;
  let paletteEntrySize = 4;
  if (dibSize === 12) {
    width = buf.readUInt16LE(18);
    rawHeight = buf.readInt16LE(20);
    bpp = buf.readUInt16LE(24);
    paletteEntrySize = 3;
  } else if (dibSize >= 40 && buf.length >= 14 + 40) {
    width = buf.readInt32LE(18);
    rawHeight = buf.readInt32LE(22);
    bpp = buf.readUInt16LE(28);
    compression = buf.readUInt32LE(30);
    paletteCount = buf.readUInt32LE(46);
  } else {
    throw new Error(`unsupported BMP header size ${dibSize}`);
  }
  const topDown = rawHeight < 0;
  const height = Math.abs(rawHeight);
  if (width <= 0 || height <= 0) throw new Error(`invalid BMP size ${width}x${rawHeight}`);
  let masks: [number, number, number] | undefined;
  let paletteOffset = 14 + dibSize;
  if (compression === 3 || compression === 6) {
    if (bpp !== 16 && bpp !== 32) throw new Error(`BMP bitfields with ${bpp} bits per pixel are not supported`);
    // With a 40-byte header the masks follow it; V2+ headers carry them at the same offset inside.
    const at = 14 + 40;
    if (buf.length < at + 12) throw new Error('truncated BMP header');
    masks = [buf.readUInt32LE(at), buf.readUInt32LE(at + 4), buf.readUInt32LE(at + 8)];
    if (dibSize === 40) paletteOffset += compression === 6 ? 16 : 12;
  } else if (compression !== 0) {
    throw new Error(`compressed BMP (compression type ${compression}) is not supported`);
  }
  if (![1, 4, 8, 16, 24, 32].includes(bpp)) throw new Error(`BMP with ${bpp} bits per pixel is not supported`);
  if (bpp <= 8 && paletteCount === 0) paletteCount = 1 << bpp;
  if (bpp === 16 && !masks) masks = [0x7c00, 0x03e0, 0x001f];
  return { width, height, topDown, bpp, compression, dataOffset, paletteOffset, paletteEntrySize, paletteCount, masks };
}

/** Shift and scale turning a bit mask's field into 0..255. */
function maskReader(mask: number): (v: number) => number {
  if (mask === 0) return () => 0;
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  const max = mask >>> shift;
  return (v) => Math.round((((v & mask) >>> shift) * 255) / max);
}

/**
 * Decodes a BMP into interleaved RGB.
 *
 * @param buf the whole file.
 * @returns `{ width, height, data }`, data `[H, W, 3]` RGB bytes, top row first.
 * @throws Error (plain; the caller wraps it with the file name) when the file is malformed,
 *   truncated, or uses an unsupported variant (RLE, embedded JPEG/PNG).
 */
export function decodeBmp(buf: Buffer): DecodedBmp {
  const h = parseHeader(buf);
  const { width, height, bpp } = h;
  const stride = Math.floor((bpp * width + 31) / 32) * 4;
  if (h.dataOffset + stride * height > buf.length) {
    throw new Error(`truncated BMP: pixel data needs ${h.dataOffset + stride * height} bytes, file has ${buf.length}`);
  }
  const palette: number[][] = [];
  if (bpp <= 8) {
    for (let i = 0; i < h.paletteCount; i++) {
      const o = h.paletteOffset + i * h.paletteEntrySize;
      if (o + 3 > buf.length) throw new Error('truncated BMP palette');
      palette.push([buf[o + 2] as number, buf[o + 1] as number, buf[o] as number]);
    }
  }
  const read = h.masks ? h.masks.map(maskReader) : undefined;
  const out = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    const row = h.dataOffset + (h.topDown ? y : height - 1 - y) * stride;
    let o = y * width * 3;
    for (let x = 0; x < width; x++, o += 3) {
      if (bpp === 24 || (bpp === 32 && !read)) {
        const p = row + x * (bpp >> 3);
        out[o] = buf[p + 2] as number;
        out[o + 1] = buf[p + 1] as number;
        out[o + 2] = buf[p] as number;
      } else if (bpp === 16 || bpp === 32) {
        const v = bpp === 16 ? buf.readUInt16LE(row + x * 2) : buf.readUInt32LE(row + x * 4);
        const [r, g, b] = read as Array<(v: number) => number>;
        out[o] = (r as (v: number) => number)(v);
        out[o + 1] = (g as (v: number) => number)(v);
        out[o + 2] = (b as (v: number) => number)(v);
      } else {
        const bit = x * bpp;
        const byte = buf[row + (bit >> 3)] as number;
        const idx = (byte >> (8 - bpp - (bit & 7))) & ((1 << bpp) - 1);
        const c = palette[idx];
        if (!c) throw new Error(`BMP palette index ${idx} out of range (${palette.length} colours)`);
        out[o] = c[0] as number;
        out[o + 1] = c[1] as number;
        out[o + 2] = c[2] as number;
      }
    }
  }
  return { width, height, data: out };
}
