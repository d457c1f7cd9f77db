// The gallery's solo pictures (tries of no series) in the app's lightbox: each with its prompt and
// seed, its download, and what it makes (more like this, upscale, edit a region); nothing to pick.
import type { Ctx } from "../context";
import { pictureActions } from "../picture-actions";
import type { SoloPicture } from "./gallery-data";
import { lightbox, type Shot } from "./lightbox";

export interface SoloViewer {
  /** The solo pictures shown now, in the gallery's order; `url` signs a picture's full-size URL. */
  set(pictures: SoloPicture[], url: (picture: SoloPicture) => string | null): void;
  open(imageId: string): void;
  destroy(): void;
}

export function soloViewer(ctx: Ctx): SoloViewer {
  let pictures: SoloPicture[] = [];
  let urlOf: (picture: SoloPicture) => string | null = () => null;
  const downloads = new Map<string, string>();
  const made = pictureActions(ctx);
  const at = (idx: number) => pictures[idx - 1]!;
  const shots = (): Shot[] =>
    pictures.map((picture, i) => ({ idx: i + 1, seed: picture.seed, url: urlOf(picture), downloadUrl: downloads.get(picture.id) ?? null, winner: false }));
  const viewer = lightbox({
    noun: "Picture",
    prompt: (idx) => at(idx)?.prompt ?? "",
    size: (idx) => ({ width: at(idx)?.width ?? NaN, height: at(idx)?.height ?? NaN }),
    shots,
    pick: null,
    vary: (idx, n, strength) => made.vary(at(idx).id, n, strength),
    upscale: (idx, n, refine, factor) => made.upscale(at(idx).id, n, refine, factor),
    edit: (idx, mask, prompt, n) => made.edit(at(idx).id, mask, prompt, n),
  });

  return {
    set(next, url): void {
      pictures = next;
      urlOf = url;
      viewer.refresh();
    },
    open(imageId: string): void {
      const i = pictures.findIndex((picture) => picture.id === imageId);
      if (i < 0) return;
      viewer.open(i + 1);
      const picture = pictures[i]!;
      if (downloads.has(picture.id)) return;
      void ctx.pictures.downloadUrl(picture.bucket, picture.path, `imagen-${picture.id.slice(0, 8)}.png`).then(
        (url) => {
          downloads.set(picture.id, url);
          viewer.refresh();
        },
        (e) => console.warn("imagen: could not sign the download", e),
      );
    },
    destroy: () => viewer.destroy(),
  };
}
