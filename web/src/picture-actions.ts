// What a picture makes, wherever it is shown (a series' lightbox, the gallery's solo pictures): a
// new series from it (variations, an upscale, a region repainted through a mask uploaded first),
// and then the page goes to that series.
import type { Ctx } from "./context";
import { uploadMask } from "./masks";
import type { Mask } from "./views/mask-painter";

export function pictureActions(ctx: Ctx) {
  const go = (seriesId: string) => {
    location.hash = `#/series/${seriesId}`;
  };
  return {
    async vary(imageId: string, n: number, strength: number): Promise<void> {
      go(await ctx.api.varyImage(imageId, n, strength));
    },
    async upscale(imageId: string, n: number, refine: number, factor: number): Promise<void> {
      go(await ctx.api.createFromImage(imageId, "upscale", n, { refine, factor }));
    },
    async edit(imageId: string, mask: Mask, prompt: string, n: number): Promise<void> {
      const maskPath = await uploadMask(ctx.db, ctx.session.user.id, mask);
      go(await ctx.api.createFromImage(imageId, "edit", n, { mask_path: maskPath, prompt }));
    },
  };
}
