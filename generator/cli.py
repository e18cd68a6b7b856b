"""Command line: `python -m generator build|check|ids|watch`. No logic lives here."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .location import Diagnostics, GeneratorError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m generator",
                                description="Markdown study notes → Anki deck, PDF study guide, HTML cheat sheet.")
    sub = p.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--content", type=Path, default=Path("content"), help="content folder (default: content)")
    common.add_argument("--out", type=Path, default=Path("build"), help="output folder (default: build)")
    common.add_argument("--name", help="output file name without extension (default: the main deck's name, "
                                       "made safe for a file name)")
    common.add_argument("-q", "--quiet", action="store_true", help="print only problems")
    common.add_argument("--strict", action="store_true", help="treat warnings as errors")
    b = sub.add_parser("build", parents=[common], help="check the content and write the outputs")
    b.add_argument("--only", default="deck,pdf,html",
                   help="comma-separated outputs to build: deck, pdf, html (default: all)")
    b.add_argument("--paper", choices=["A4", "Letter"], default="A4", help="PDF paper size")
    b.add_argument("--force", action="store_true", help="rebuild even if nothing changed")
    sub.add_parser("check", parents=[common], help="parse and verify the content; write nothing but the report")
    sub.add_parser("ids", parents=[common], help="write derived ids into questions that have none")
    w = sub.add_parser("watch", parents=[common],
                       help="build, then rebuild on every save and serve a live preview of the cheat sheet")
    w.add_argument("--targets", default="deck,pdf",
                   help="outputs rebuilt in the background after the cheat sheet: deck, pdf, or none "
                        "(default: deck,pdf)")
    w.add_argument("--port", type=int, default=0, help="port of the preview (default: a free one)")
    w.add_argument("--host", default="127.0.0.1", help="address of the preview (default: 127.0.0.1)")
    w.add_argument("--public", action="store_true",
                   help="allow a --host that other machines can reach (off by default)")
    w.add_argument("--paper", choices=["A4", "Letter"], default="A4", help="PDF paper size")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from . import pipeline

    cfg = pipeline.BuildConfig(content=args.content, out=args.out, quiet=args.quiet, strict=args.strict,
                               name=args.name)
    try:
        if args.command == "build":
            targets = tuple(t.strip() for t in args.only.split(",") if t.strip())
            unknown = [t for t in targets if t not in pipeline.TARGETS]
            if unknown or not targets:
                print(f"error: unknown output {', '.join(unknown) or '(none)'}; choose from "
                      f"{', '.join(pipeline.TARGETS)}", file=sys.stderr)
                return 2
            cfg.targets, cfg.paper, cfg.force = targets, args.paper, args.force
            return pipeline.build(cfg)
        if args.command == "check":
            return pipeline.check(cfg)
        if args.command == "watch":
            from . import watch

            targets = tuple(t.strip() for t in args.targets.split(",") if t.strip() not in ("", "none", "html"))
            unknown = [t for t in targets if t not in watch.BACKGROUND]
            if unknown:
                print(f"error: unknown target {', '.join(unknown)}; choose from {', '.join(watch.BACKGROUND)} "
                      f"or none", file=sys.stderr)
                return 2
            return watch.run(watch.WatchConfig(content=args.content, out=args.out, background=targets,
                                               host=args.host, port=args.port, public=args.public,
                                               strict=args.strict, paper=args.paper, name=args.name))
        from .ids import write_ids

        diags = Diagnostics()
        written = write_ids(args.content, diags)
        pipeline.print_diagnostics(diags)
        for path, line, new_id in written:
            print(f"{path}:{line}: wrote id {new_id}", file=sys.stderr)
        return 1 if diags.errors else 0
    except GeneratorError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # a disk or permission problem, not a bug: say which file, no traceback
        where = f"{e.filename}: " if e.filename else ""
        print(f"error: {where}{e.strerror or e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        from .workers import caused_by_interrupt

        if caused_by_interrupt(e):
            return 130
        raise
