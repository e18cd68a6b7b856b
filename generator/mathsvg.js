// TeX → SVG with MathJax 3 (npm mathjax-full), one batch per build (generator/mathsvg.py).
// stdin: JSON [[tex, display], …]; stdout: JSON [{svg, width, height, valign} | {error}, …]
// with sizes in MathJax ex. Glyphs are paths (fontCache "local": one <defs> per formula).
"use strict";
const { mathjax } = require("mathjax-full/js/mathjax.js");
const { TeX } = require("mathjax-full/js/input/tex.js");
const { SVG } = require("mathjax-full/js/output/svg.js");
const { liteAdaptor } = require("mathjax-full/js/adaptors/liteAdaptor.js");
const { RegisterHTMLHandler } = require("mathjax-full/js/handlers/html.js");
const { AllPackages } = require("mathjax-full/js/input/tex/AllPackages.js");

const adaptor = liteAdaptor();
RegisterHTMLHandler(adaptor);
// noerrors/noundefined off: an error must reach the caller, not be drawn in red.
const packages = AllPackages.filter((p) => p !== "noerrors" && p !== "noundefined");
const doc = mathjax.document("", {
  InputJax: new TeX({ packages, formatError: (jax, err) => { throw err; } }),
  OutputJax: new SVG({ fontCache: "local" }),
});

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const out = JSON.parse(input).map(([tex, display]) => {
    try {
      const node = doc.convert(tex, { display: !!display, em: 16, ex: 8, containerWidth: 80 * 16 });
      const svg = adaptor.firstChild(node);
      const width = adaptor.getAttribute(svg, "width");
      const height = adaptor.getAttribute(svg, "height");
      const style = adaptor.getAttribute(svg, "style") || "";
      const m = /vertical-align:\s*(-?[\d.]+)ex/.exec(style);
      return { svg: adaptor.outerHTML(svg), width: parseFloat(width), height: parseFloat(height),
               valign: m ? parseFloat(m[1]) : 0 };
    } catch (e) {
      return { error: String(e && e.message || e) };
    }
  });
  process.stdout.write(JSON.stringify(out));
});
