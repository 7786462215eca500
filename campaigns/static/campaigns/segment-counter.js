/* Live SMS segment counter for the campaign body: the rules of campaigns/segments.py, mirrored exactly.
 *
 * GSM-7: 160 septets in one segment, 153 per segment once split; extension characters take two septets.
 * One character outside the GSM alphabet makes the whole text UCS-2: 70 UTF-16 units, 67 once split.
 * A carrier never splits an escape pair or a surrogate pair across segments, so segments are packed.
 * campaigns/tests/test_segment_counter_js.py runs this file with node and compares it with segment_info().
 * No dependencies, no network: admins often run offline.
 */
(function (root) {
  "use strict";

  var GSM7_BASIC = new Set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
      "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
  );
  var GSM7_EXTENSION = new Set("^{}\\[~]|€\f");
  var GSM7 = "GSM-7";
  var UCS2 = "UCS-2";
  var LIMITS = { "GSM-7": [160, 153], "UCS-2": [70, 67] };

  // Labels of the characters a person cannot see, by code point, as campaigns.segments names them.
  // Generated from campaigns.segments.invisible_character_labels(); the test prints a fresh copy.
  // BEGIN GENERATED
  var INVISIBLE = {
    0: "U+0000 control character",
    1: "U+0001 control character",
    2: "U+0002 control character",
    3: "U+0003 control character",
    4: "U+0004 control character",
    5: "U+0005 control character",
    6: "U+0006 control character",
    7: "U+0007 control character",
    8: "U+0008 control character",
    9: "U+0009 control character",
    10: "U+000A control character",
    11: "U+000B control character",
    12: "U+000C control character",
    13: "U+000D control character",
    14: "U+000E control character",
    15: "U+000F control character",
    16: "U+0010 control character",
    17: "U+0011 control character",
    18: "U+0012 control character",
    19: "U+0013 control character",
    20: "U+0014 control character",
    21: "U+0015 control character",
    22: "U+0016 control character",
    23: "U+0017 control character",
    24: "U+0018 control character",
    25: "U+0019 control character",
    26: "U+001A control character",
    27: "U+001B control character",
    28: "U+001C control character",
    29: "U+001D control character",
    30: "U+001E control character",
    31: "U+001F control character",
    32: "U+0020 SPACE",
    127: "U+007F control character",
    128: "U+0080 control character",
    129: "U+0081 control character",
    130: "U+0082 control character",
    131: "U+0083 control character",
    132: "U+0084 control character",
    133: "U+0085 control character",
    134: "U+0086 control character",
    135: "U+0087 control character",
    136: "U+0088 control character",
    137: "U+0089 control character",
    138: "U+008A control character",
    139: "U+008B control character",
    140: "U+008C control character",
    141: "U+008D control character",
    142: "U+008E control character",
    143: "U+008F control character",
    144: "U+0090 control character",
    145: "U+0091 control character",
    146: "U+0092 control character",
    147: "U+0093 control character",
    148: "U+0094 control character",
    149: "U+0095 control character",
    150: "U+0096 control character",
    151: "U+0097 control character",
    152: "U+0098 control character",
    153: "U+0099 control character",
    154: "U+009A control character",
    155: "U+009B control character",
    156: "U+009C control character",
    157: "U+009D control character",
    158: "U+009E control character",
    159: "U+009F control character",
    160: "U+00A0 NO-BREAK SPACE",
    173: "U+00AD SOFT HYPHEN",
    1536: "U+0600 ARABIC NUMBER SIGN",
    1537: "U+0601 ARABIC SIGN SANAH",
    1538: "U+0602 ARABIC FOOTNOTE MARKER",
    1539: "U+0603 ARABIC SIGN SAFHA",
    1540: "U+0604 ARABIC SIGN SAMVAT",
    1541: "U+0605 ARABIC NUMBER MARK ABOVE",
    1564: "U+061C ARABIC LETTER MARK",
    1757: "U+06DD ARABIC END OF AYAH",
    1807: "U+070F SYRIAC ABBREVIATION MARK",
    2192: "U+0890 ARABIC POUND MARK ABOVE",
    2193: "U+0891 ARABIC PIASTRE MARK ABOVE",
    2274: "U+08E2 ARABIC DISPUTED END OF AYAH",
    5760: "U+1680 OGHAM SPACE MARK",
    6158: "U+180E MONGOLIAN VOWEL SEPARATOR",
    8192: "U+2000 EN QUAD",
    8193: "U+2001 EM QUAD",
    8194: "U+2002 EN SPACE",
    8195: "U+2003 EM SPACE",
    8196: "U+2004 THREE-PER-EM SPACE",
    8197: "U+2005 FOUR-PER-EM SPACE",
    8198: "U+2006 SIX-PER-EM SPACE",
    8199: "U+2007 FIGURE SPACE",
    8200: "U+2008 PUNCTUATION SPACE",
    8201: "U+2009 THIN SPACE",
    8202: "U+200A HAIR SPACE",
    8203: "U+200B ZERO WIDTH SPACE",
    8204: "U+200C ZERO WIDTH NON-JOINER",
    8205: "U+200D ZERO WIDTH JOINER",
    8206: "U+200E LEFT-TO-RIGHT MARK",
    8207: "U+200F RIGHT-TO-LEFT MARK",
    8232: "U+2028 LINE SEPARATOR",
    8233: "U+2029 PARAGRAPH SEPARATOR",
    8234: "U+202A LEFT-TO-RIGHT EMBEDDING",
    8235: "U+202B RIGHT-TO-LEFT EMBEDDING",
    8236: "U+202C POP DIRECTIONAL FORMATTING",
    8237: "U+202D LEFT-TO-RIGHT OVERRIDE",
    8238: "U+202E RIGHT-TO-LEFT OVERRIDE",
    8239: "U+202F NARROW NO-BREAK SPACE",
    8287: "U+205F MEDIUM MATHEMATICAL SPACE",
    8288: "U+2060 WORD JOINER",
    8289: "U+2061 FUNCTION APPLICATION",
    8290: "U+2062 INVISIBLE TIMES",
    8291: "U+2063 INVISIBLE SEPARATOR",
    8292: "U+2064 INVISIBLE PLUS",
    8294: "U+2066 LEFT-TO-RIGHT ISOLATE",
    8295: "U+2067 RIGHT-TO-LEFT ISOLATE",
    8296: "U+2068 FIRST STRONG ISOLATE",
    8297: "U+2069 POP DIRECTIONAL ISOLATE",
    8298: "U+206A INHIBIT SYMMETRIC SWAPPING",
    8299: "U+206B ACTIVATE SYMMETRIC SWAPPING",
    8300: "U+206C INHIBIT ARABIC FORM SHAPING",
    8301: "U+206D ACTIVATE ARABIC FORM SHAPING",
    8302: "U+206E NATIONAL DIGIT SHAPES",
    8303: "U+206F NOMINAL DIGIT SHAPES",
    12288: "U+3000 IDEOGRAPHIC SPACE",
    65279: "U+FEFF ZERO WIDTH NO-BREAK SPACE",
    65529: "U+FFF9 INTERLINEAR ANNOTATION ANCHOR",
    65530: "U+FFFA INTERLINEAR ANNOTATION SEPARATOR",
    65531: "U+FFFB INTERLINEAR ANNOTATION TERMINATOR",
    69821: "U+110BD KAITHI NUMBER SIGN",
    69837: "U+110CD KAITHI NUMBER SIGN ABOVE",
    78896: "U+13430 EGYPTIAN HIEROGLYPH VERTICAL JOINER",
    78897: "U+13431 EGYPTIAN HIEROGLYPH HORIZONTAL JOINER",
    78898: "U+13432 EGYPTIAN HIEROGLYPH INSERT AT TOP START",
    78899: "U+13433 EGYPTIAN HIEROGLYPH INSERT AT BOTTOM START",
    78900: "U+13434 EGYPTIAN HIEROGLYPH INSERT AT TOP END",
    78901: "U+13435 EGYPTIAN HIEROGLYPH INSERT AT BOTTOM END",
    78902: "U+13436 EGYPTIAN HIEROGLYPH OVERLAY MIDDLE",
    78903: "U+13437 EGYPTIAN HIEROGLYPH BEGIN SEGMENT",
    78904: "U+13438 EGYPTIAN HIEROGLYPH END SEGMENT",
    113824: "U+1BCA0 SHORTHAND FORMAT LETTER OVERLAP",
    113825: "U+1BCA1 SHORTHAND FORMAT CONTINUING OVERLAP",
    113826: "U+1BCA2 SHORTHAND FORMAT DOWN STEP",
    113827: "U+1BCA3 SHORTHAND FORMAT UP STEP",
    119155: "U+1D173 MUSICAL SYMBOL BEGIN BEAM",
    119156: "U+1D174 MUSICAL SYMBOL END BEAM",
    119157: "U+1D175 MUSICAL SYMBOL BEGIN TIE",
    119158: "U+1D176 MUSICAL SYMBOL END TIE",
    119159: "U+1D177 MUSICAL SYMBOL BEGIN SLUR",
    119160: "U+1D178 MUSICAL SYMBOL END SLUR",
    119161: "U+1D179 MUSICAL SYMBOL BEGIN PHRASE",
    119162: "U+1D17A MUSICAL SYMBOL END PHRASE",
    917505: "U+E0001 LANGUAGE TAG",
    917536: "U+E0020 TAG SPACE",
    917537: "U+E0021 TAG EXCLAMATION MARK",
    917538: "U+E0022 TAG QUOTATION MARK",
    917539: "U+E0023 TAG NUMBER SIGN",
    917540: "U+E0024 TAG DOLLAR SIGN",
    917541: "U+E0025 TAG PERCENT SIGN",
    917542: "U+E0026 TAG AMPERSAND",
    917543: "U+E0027 TAG APOSTROPHE",
    917544: "U+E0028 TAG LEFT PARENTHESIS",
    917545: "U+E0029 TAG RIGHT PARENTHESIS",
    917546: "U+E002A TAG ASTERISK",
    917547: "U+E002B TAG PLUS SIGN",
    917548: "U+E002C TAG COMMA",
    917549: "U+E002D TAG HYPHEN-MINUS",
    917550: "U+E002E TAG FULL STOP",
    917551: "U+E002F TAG SOLIDUS",
    917552: "U+E0030 TAG DIGIT ZERO",
    917553: "U+E0031 TAG DIGIT ONE",
    917554: "U+E0032 TAG DIGIT TWO",
    917555: "U+E0033 TAG DIGIT THREE",
    917556: "U+E0034 TAG DIGIT FOUR",
    917557: "U+E0035 TAG DIGIT FIVE",
    917558: "U+E0036 TAG DIGIT SIX",
    917559: "U+E0037 TAG DIGIT SEVEN",
    917560: "U+E0038 TAG DIGIT EIGHT",
    917561: "U+E0039 TAG DIGIT NINE",
    917562: "U+E003A TAG COLON",
    917563: "U+E003B TAG SEMICOLON",
    917564: "U+E003C TAG LESS-THAN SIGN",
    917565: "U+E003D TAG EQUALS SIGN",
    917566: "U+E003E TAG GREATER-THAN SIGN",
    917567: "U+E003F TAG QUESTION MARK",
    917568: "U+E0040 TAG COMMERCIAL AT",
    917569: "U+E0041 TAG LATIN CAPITAL LETTER A",
    917570: "U+E0042 TAG LATIN CAPITAL LETTER B",
    917571: "U+E0043 TAG LATIN CAPITAL LETTER C",
    917572: "U+E0044 TAG LATIN CAPITAL LETTER D",
    917573: "U+E0045 TAG LATIN CAPITAL LETTER E",
    917574: "U+E0046 TAG LATIN CAPITAL LETTER F",
    917575: "U+E0047 TAG LATIN CAPITAL LETTER G",
    917576: "U+E0048 TAG LATIN CAPITAL LETTER H",
    917577: "U+E0049 TAG LATIN CAPITAL LETTER I",
    917578: "U+E004A TAG LATIN CAPITAL LETTER J",
    917579: "U+E004B TAG LATIN CAPITAL LETTER K",
    917580: "U+E004C TAG LATIN CAPITAL LETTER L",
    917581: "U+E004D TAG LATIN CAPITAL LETTER M",
    917582: "U+E004E TAG LATIN CAPITAL LETTER N",
    917583: "U+E004F TAG LATIN CAPITAL LETTER O",
    917584: "U+E0050 TAG LATIN CAPITAL LETTER P",
    917585: "U+E0051 TAG LATIN CAPITAL LETTER Q",
    917586: "U+E0052 TAG LATIN CAPITAL LETTER R",
    917587: "U+E0053 TAG LATIN CAPITAL LETTER S",
    917588: "U+E0054 TAG LATIN CAPITAL LETTER T",
    917589: "U+E0055 TAG LATIN CAPITAL LETTER U",
    917590: "U+E0056 TAG LATIN CAPITAL LETTER V",
    917591: "U+E0057 TAG LATIN CAPITAL LETTER W",
    917592: "U+E0058 TAG LATIN CAPITAL LETTER X",
    917593: "U+E0059 TAG LATIN CAPITAL LETTER Y",
    917594: "U+E005A TAG LATIN CAPITAL LETTER Z",
    917595: "U+E005B TAG LEFT SQUARE BRACKET",
    917596: "U+E005C TAG REVERSE SOLIDUS",
    917597: "U+E005D TAG RIGHT SQUARE BRACKET",
    917598: "U+E005E TAG CIRCUMFLEX ACCENT",
    917599: "U+E005F TAG LOW LINE",
    917600: "U+E0060 TAG GRAVE ACCENT",
    917601: "U+E0061 TAG LATIN SMALL LETTER A",
    917602: "U+E0062 TAG LATIN SMALL LETTER B",
    917603: "U+E0063 TAG LATIN SMALL LETTER C",
    917604: "U+E0064 TAG LATIN SMALL LETTER D",
    917605: "U+E0065 TAG LATIN SMALL LETTER E",
    917606: "U+E0066 TAG LATIN SMALL LETTER F",
    917607: "U+E0067 TAG LATIN SMALL LETTER G",
    917608: "U+E0068 TAG LATIN SMALL LETTER H",
    917609: "U+E0069 TAG LATIN SMALL LETTER I",
    917610: "U+E006A TAG LATIN SMALL LETTER J",
    917611: "U+E006B TAG LATIN SMALL LETTER K",
    917612: "U+E006C TAG LATIN SMALL LETTER L",
    917613: "U+E006D TAG LATIN SMALL LETTER M",
    917614: "U+E006E TAG LATIN SMALL LETTER N",
    917615: "U+E006F TAG LATIN SMALL LETTER O",
    917616: "U+E0070 TAG LATIN SMALL LETTER P",
    917617: "U+E0071 TAG LATIN SMALL LETTER Q",
    917618: "U+E0072 TAG LATIN SMALL LETTER R",
    917619: "U+E0073 TAG LATIN SMALL LETTER S",
    917620: "U+E0074 TAG LATIN SMALL LETTER T",
    917621: "U+E0075 TAG LATIN SMALL LETTER U",
    917622: "U+E0076 TAG LATIN SMALL LETTER V",
    917623: "U+E0077 TAG LATIN SMALL LETTER W",
    917624: "U+E0078 TAG LATIN SMALL LETTER X",
    917625: "U+E0079 TAG LATIN SMALL LETTER Y",
    917626: "U+E007A TAG LATIN SMALL LETTER Z",
    917627: "U+E007B TAG LEFT CURLY BRACKET",
    917628: "U+E007C TAG VERTICAL LINE",
    917629: "U+E007D TAG RIGHT CURLY BRACKET",
    917630: "U+E007E TAG TILDE",
    917631: "U+E007F CANCEL TAG"
  };
  // END GENERATED
  var UNNAMED = /^[\p{Cn}\p{Co}\p{Cs}]$/u;

  function visible(ch) {
    var code = ch.codePointAt(0);
    if (Object.prototype.hasOwnProperty.call(INVISIBLE, code)) return INVISIBLE[code];
    if (UNNAMED.test(ch)) return "U+" + code.toString(16).toUpperCase().padStart(4, "0") + " control character";
    return ch;
  }

  function unitSizes(chars, encoding) {
    return chars.map(function (ch) {
      if (encoding === GSM7) return GSM7_EXTENSION.has(ch) ? 2 : 1;
      return ch.codePointAt(0) > 0xffff ? 2 : 1;
    });
  }

  function pack(sizes, encoding) {
    var single = LIMITS[encoding][0];
    var multi = LIMITS[encoding][1];
    var total = sizes.reduce(function (a, b) { return a + b; }, 0);
    if (total <= single) return [total ? 1 : 0, single];
    var segments = 1;
    var used = 0;
    sizes.forEach(function (size) {
      if (used + size > multi) { segments += 1; used = 0; }
      used += size;
    });
    return [segments, multi];
  }

  function forcesUcs2Note(info) {
    if (!info.ucs2_characters.length) return "";
    var chars = info.ucs2_characters.map(visible).join(" ");
    var verb = info.ucs2_characters.length === 1 ? "forces" : "force";
    var plural = info.segments !== 1 ? "s" : "";
    if (info.segments === info.segments_if_gsm7) {
      return chars + " " + verb + " UCS-2 (" + info.segments + " segment" + plural + " either way)";
    }
    return chars + " " + verb + " UCS-2: " + info.segments + " segment" + plural + " instead of " + info.segments_if_gsm7;
  }

  function segmentInfo(text) {
    var chars = Array.from(text); // code points, as Python iterates a str
    var offending = [];
    chars.forEach(function (ch) {
      if (!GSM7_BASIC.has(ch) && !GSM7_EXTENSION.has(ch) && offending.indexOf(ch) === -1) offending.push(ch);
    });
    var encoding = offending.length ? UCS2 : GSM7;
    var sizes = unitSizes(chars, encoding);
    var packed = pack(sizes, encoding);
    var segmentsIfGsm7 = packed[0];
    if (offending.length) {
      var replaced = chars.map(function (ch) { return offending.indexOf(ch) === -1 ? ch : "?"; });
      segmentsIfGsm7 = pack(unitSizes(replaced, GSM7), GSM7)[0];
    }
    var info = {
      encoding: encoding,
      characters: chars.length,
      units: sizes.reduce(function (a, b) { return a + b; }, 0),
      segments: packed[0],
      per_segment: packed[1],
      ucs2_characters: offending,
      segments_if_gsm7: segmentsIfGsm7,
    };
    info.forces_ucs2_note = forcesUcs2Note(info);
    return info;
  }

  function describe(info) {
    var plural = info.segments === 1 ? "" : "s";
    var chars = info.characters === 1 ? "" : "s";
    return info.characters + " character" + chars + " · " + info.segments + " segment" + plural + " · " + info.encoding;
  }

  // The warning shown once the text as written costs more segments than SMS_MAX_SEGMENTS (the textarea's
  // data-max-segments), "" below it. The server decides at save, on the text with its opt-out footer.
  function ceilingWarning(info, ceiling) {
    if (!(ceiling > 0) || info.segments <= ceiling) {
      return "";
    }
    return "More than " + ceiling + " segments, the most a message may cost (SMS_MAX_SEGMENTS): " +
      "shorten it, or it is refused when you save.";
  }

  // The URLs of a text, as campaigns/tracked_links.py finds them: a tracked one is sent as a short link.
  var URL = /https?:\/\/[^\s<>"'`|\\^]+/gi;
  var TRAILING = /[.,;:!?)\]'"]+$/;

  // The text with each URL written out in full (no placeholder in it) as long as its short link.
  function withShortLinks(text, shortLink) {
    return text.replace(URL, function (whole) {
      var url = whole.replace(TRAILING, "");
      if (!url || url.indexOf("{{") !== -1 || url.indexOf("{%") !== -1) {
        return whole;
      }
      return shortLink + whole.slice(url.length);
    });
  }

  // Attach a counter under every textarea marked data-segment-counter (the campaign body).
  function attach(textarea) {
    var counter = document.createElement("div");
    // "help" lines it up under the field like the admin's own help text.
    counter.className = "help segment-counter";
    counter.setAttribute("aria-live", "polite");
    var summary = document.createElement("div");
    summary.className = "segment-counter-summary";
    var note = document.createElement("div");
    note.className = "segment-counter-note";
    var warning = document.createElement("div");
    warning.className = "segment-counter-warning";
    var ceiling = parseInt(textarea.dataset.maxSegments || "", 10);
    counter.appendChild(summary);
    counter.appendChild(note);
    counter.appendChild(warning);
    (textarea.closest(".flex-container") || textarea).insertAdjacentElement("afterend", counter);
    // The "track links" box (data-track-links names it): while ticked, links count as their short link.
    var tracking = textarea.dataset.trackLinks ? document.getElementById(textarea.dataset.trackLinks) : null;
    var shortLink = textarea.dataset.shortLink || "";
    function update() {
      var text = tracking && tracking.checked && shortLink ? withShortLinks(textarea.value, shortLink) : textarea.value;
      var info = segmentInfo(text);
      summary.textContent = describe(info);
      counter.dataset.encoding = info.encoding;
      counter.dataset.segments = String(info.segments);
      note.textContent = info.forces_ucs2_note;
      note.hidden = !info.forces_ucs2_note;
      warning.textContent = ceilingWarning(info, ceiling);
      warning.hidden = !warning.textContent;
    }
    textarea.addEventListener("input", update);
    if (tracking) {
      tracking.addEventListener("change", update);
    }
    update();
  }

  var api = { segmentInfo: segmentInfo, withShortLinks: withShortLinks, describe: describe, ceilingWarning: ceilingWarning, GSM7_BASIC: GSM7_BASIC, GSM7_EXTENSION: GSM7_EXTENSION, INVISIBLE: INVISIBLE };
  if (typeof module !== "undefined" && module.exports) {
    module.exports = api;
  } else {
    root.smsSegments = api;
    document.addEventListener("DOMContentLoaded", function () {
      document.querySelectorAll("textarea[data-segment-counter]").forEach(attach);
    });
  }
})(this);
