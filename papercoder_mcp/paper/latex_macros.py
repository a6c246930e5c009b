"""What LaTeX commands mean for prose: tables of known macros, and user definitions collected from the source."""

from __future__ import annotations

import re
from dataclasses import dataclass

from papercoder_mcp.paper.latex_syntax import is_escaped, normalize_ws, read_arg, read_args, read_opt

# fmt: off
SYMBOLS: dict[str, str] = {
    "ldots": "…", "dots": "…", "textellipsis": "…", "LaTeX": "LaTeX", "TeX": "TeX", "LaTeXe": "LaTeX2e",
    "ss": "ß", "o": "ø", "O": "Ø", "ae": "æ", "AE": "Æ", "oe": "œ", "OE": "Œ", "aa": "å", "AA": "Å",
    "l": "ł", "L": "Ł", "i": "ı", "j": "ȷ", "dag": "†", "ddag": "‡", "S": "§", "P": "¶", "copyright": "©",
    "textregistered": "®", "texttrademark": "™", "textbullet": "•", "textdegree": "°", "textasciitilde": "~",
    "textbackslash": "\\", "textless": "<", "textgreater": ">", "textbar": "|", "textquoteright": "'",
    "textquoteleft": "'", "textquotedblleft": '"', "textquotedblright": '"', "textendash": "–",
    "textemdash": "—", "textunderscore": "_", "textasciicircum": "^", "euro": "€", "pounds": "£",
    "textdollar": "$", "quad": " ", "qquad": " ", "newline": " ", "linebreak": " ", "par": " ",
    "enspace": " ", "thinspace": " ", "space": " ", "nobreakspace": " ", "textperiodcentered": "·",
}
# fmt: on

# Commands with no printable output and no arguments (layout, font switches, rules).
DROP_NOARG = set(
    """centering raggedright raggedleft noindent indent newpage clearpage cleardoublepage pagebreak nopagebreak
    nolinebreak maketitle tableofcontents listoffigures listoftables small footnotesize scriptsize tiny large
    Large LARGE huge Huge normalsize normalfont bfseries itshape ttfamily rmfamily sffamily scshape upshape
    mdseries slshape boldmath unboldmath vfill hfill hfil vfil hline toprule midrule bottomrule smallskip medskip
    bigskip footnotemark protect selectfont sloppy fussy onecolumn bf it em rm sc tt sf sl null relax leavevmode
    break allowbreak ignorespaces xspace strut nobreak item frenchspacing normalcolor appendix makeatletter
    makeatother printbibliography bibsep hbadness vbadness clubpenalty widowpenalty displaywidowpenalty
    IEEEpeerreviewmaketitle IEEEoverridecommandlockouts acknowledgments acks newblock and And AND
    """.split()
)

# Commands whose arguments carry no prose: dropped whole (name -> required arguments).
# fmt: off
DROP_ARGS: dict[str, int] = {
    "label": 1, "vspace": 1, "hspace": 1, "includegraphics": 1, "index": 1, "bibliographystyle": 1,
    "bibliography": 1, "setlength": 2, "addtolength": 2, "setcounter": 2, "addtocounter": 2,
    "stepcounter": 1, "refstepcounter": 1, "pagestyle": 1, "thispagestyle": 1, "usepackage": 1,
    "RequirePackage": 1, "documentclass": 1, "graphicspath": 1, "rule": 2, "color": 1, "pagenumbering": 1,
    "enlargethispage": 1, "captionsetup": 1, "phantom": 1, "hphantom": 1, "vphantom": 1, "nocite": 1,
    "addcontentsline": 3, "markboth": 2, "markright": 1, "hypersetup": 1, "setcitestyle": 1,
    "definecolor": 3, "newlength": 1, "settowidth": 2, "twocolumn": 0, "thanks": 1, "cline": 1,
    "cmidrule": 1, "specialrule": 3, "addlinespace": 0, "arrayrulecolor": 1, "rowcolor": 1, "cellcolor": 1,
    "hhline": 1, "linenumbers": 0, "input": 1, "include": 1, "date": 1, "keywords": 1, "icmlkeywords": 1,
    "icmlaffiliation": 2, "icmlcorrespondingauthor": 2, "icmlsetsymbol": 2, "printAffiliationsAndNotice": 1,
    "urlstyle": 1, "DeclareMathOperator": 2, "newtheorem": 2, "theoremstyle": 1, "numberwithin": 2,
    "title": 1, "author": 1, "affiliation": 1, "institute": 1, "address": 1, "email": 1, "icmltitle": 1,
    "icmlauthor": 2, "IEEEauthorblockA": 1, "crefname": 3, "Crefname": 3, "newcolumntype": 2,
    "renewcommand": 2,
}
# fmt: on

# Commands whose last argument is the printed text (name -> required arguments).
# fmt: off
KEEP_LAST: dict[str, int] = {
    "textcolor": 2, "colorbox": 2, "fcolorbox": 3, "fbox": 1, "mbox": 1, "hbox": 1, "makebox": 1,
    "framebox": 1, "parbox": 2, "raisebox": 2, "resizebox": 3, "scalebox": 2, "multicolumn": 3,
    "multirow": 3, "bibinfo": 2, "bibfield": 2, "href": 2, "IEEEauthorblockN": 1, "adjustbox": 2,
    "rotatebox": 2, "subfloat": 1, "textsubscript": 1,
}
# fmt: on

# fmt: off
WRAP: dict[str, str] = {
    "emph": "*", "textit": "*", "textsl": "*", "mathit": "*", "textbf": "**", "mathbf": "**", "texttt": "`",
    "code": "`", "path": "`", "lstinline": "`",
}
# fmt: on

# Standard text commands whose arguments are simply their text: known, so never "undefined".
PLAIN_TEXT = set(
    """textsc textrm textsf textup textnormal textmd underline uline sout textls mathrm mathsf mathtt
    text mbox hbox textstyle displaystyle emph textit textbf texttt footnotesize small normalsize
    centerline leftline rightline ul hl st so caps MakeUppercase MakeLowercase uppercase lowercase
    noindent indent smallcaps boldsymbol bm hyperlink hypertarget hyperref texorpdfstring
    """.split()
)

REF_NAMES = set("ref eqref autoref Autoref cref Cref pageref vref nameref Vref crefrange labelcref".split())

# Accents as combining characters: \'e -> é after NFC normalisation.
# fmt: off
ACCENTS = {
    "'": "\u0301", "`": "\u0300", "^": "\u0302", '"': "\u0308", "~": "\u0303", "=": "\u0304", ".": "\u0307",
    "u": "\u0306", "v": "\u030c", "H": "\u030b", "c": "\u0327", "k": "\u0328", "r": "\u030a",
}
# fmt: on

# fmt: off
SPACING = {
    ",": " ", ";": " ", ":": " ", ">": " ", " ": " ", "\n": " ", "\t": " ", "!": "", "-": "", "/": "",
    "@": "",
}
# fmt: on
ESCAPED = set("%&_#${}")

# Group-start switches like `{\bf x}`: the style they give the whole group.
# fmt: off
SWITCH_STYLE = {
    "bf": "**", "bfseries": "**", "em": "*", "it": "*", "itshape": "*", "sl": "*", "tt": "`",
    "ttfamily": "`",
}
# fmt: on
SWITCH_RE = re.compile(r"(?:\s*\\([a-zA-Z]+)(?![a-zA-Z]))+")

MATH_ENVS = set(
    """equation align gather multline flalign alignat eqnarray displaymath math dmath dgroup""".split()
)
# fmt: off
LIST_ENVS = {
    "itemize", "enumerate", "description", "compactitem", "compactenum", "asparaenum", "asparaitem",
    "inparaenum",
}
# fmt: on

# Environments whose opening takes arguments that are not content (name -> required arguments).
# fmt: off
ENV_ARGS: dict[str, int] = {
    "tabular": 1, "tabular*": 2, "tabularx": 2, "tabulary": 2, "longtable": 1, "supertabular": 1, "array": 1,
    "minipage": 1, "multicols": 1, "multicols*": 1, "wrapfigure": 2, "wraptable": 2, "subfigure": 1,
    "subtable": 1, "adjustbox": 1, "spacing": 1, "minted": 1, "alignat": 1, "alignat*": 1,
    "thebibliography": 1, "tcolorbox": 0, "sidewaysfigure": 0, "sidewaystable": 0, "threeparttable": 0,
    "tablenotes": 0,
}
# fmt: on


@dataclass
class Macro:
    """A user `\\newcommand`: expanded in prose so `\\ours` reads as the method's name."""

    nargs: int
    default: str | None
    body: str


DEF_RE = re.compile(
    r"\\(newcommand|renewcommand|providecommand|DeclareRobustCommand|def|gdef|edef|let|newenvironment|"
    r"renewenvironment|DeclareMathOperator|newtheorem)(?![a-zA-Z])\*?"
)


def collect_definitions(text: str) -> tuple[str, dict[str, Macro], dict[str, str]]:
    """Remove macro/environment/theorem definitions; return (text, user macros, theorem env -> title)."""
    macros: dict[str, Macro] = {}
    theorems: dict[str, str] = {}
    out: list[str] = []
    i = 0
    for m in DEF_RE.finditer(text):
        if m.start() < i or is_escaped(text, m.start()):
            continue
        out.append(text[i : m.start()])
        kind = m.group(1)
        j = m.end()
        if kind in ("def", "gdef", "edef"):
            dm = re.compile(r"\s*\\([a-zA-Z@]+)((?:#\d)*)").match(text, j)
            if dm is None:
                i = j
                continue
            body = read_arg(text, dm.end())
            i = body[1] if body else dm.end()
            if body is not None:
                macros[dm.group(1)] = Macro(len(dm.group(2)) // 2, None, body[0])
            continue
        if kind == "let":
            lm = re.compile(r"\s*\\[a-zA-Z@]+\s*=?\s*(\\[a-zA-Z@]+|.)").match(text, j)
            i = lm.end() if lm else j
            continue
        if kind in ("newenvironment", "renewenvironment"):
            i = read_args(text, j, 3)[1]
            continue
        if kind == "newtheorem":
            args, i = read_args(text, j, 2)
            if len(args) == 2:
                theorems[args[0].strip()] = normalize_ws(args[1])
            continue
        if kind == "DeclareMathOperator":
            i = read_args(text, j, 2)[1]
            continue
        # \newcommand{\name}[n][default]{body} or \newcommand\name...
        nm = re.compile(r"\s*\{?\s*\\([a-zA-Z@]+|.)\s*\}?").match(text, j)
        if nm is None:
            i = j
            continue
        j = nm.end()
        nargs = 0
        default: str | None = None
        opt = read_opt(text, j)
        if opt is not None:
            try:
                nargs = int(opt[0].strip())
            except ValueError:
                nargs = 0
            j = opt[1]
            opt2 = read_opt(text, j)
            if opt2 is not None:
                default, j = opt2
        body = read_arg(text, j)
        i = body[1] if body else j
        if body is not None and (kind != "providecommand" or nm.group(1) not in macros):
            macros[nm.group(1)] = Macro(nargs, default, body[0])
    out.append(text[i:])
    return "".join(out), macros, theorems
