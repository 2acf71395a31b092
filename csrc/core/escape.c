/*
 * escape.c - one escaping policy per output kind: terminal text, CSV, JSON,
 * HTML and Prometheus label values (the rules are in qpstat.h, next to the
 * functions).
 *
 * HELO names, senders, deny texts, mail headers and DNS answers come from
 * remote clients. A terminal must never receive their control bytes (an ESC
 * or a C1 CSI, raw 0x9b or U+009B, rewrites the screen) nor the Unicode
 * controls that reorder the text after them (U+202E shows "gpj.exe" as
 * "exe.jpg"); a spreadsheet must not run their formulas; JSON and HTML must
 * stay well-formed. Every door (report, tail, grep, summary, received,
 * dnsbl-test, list, serve's API and /metrics) escapes through these functions, so the
 * rules cannot drift apart.
 *
 * License: MIT (see README).
 */
#include "qps_private.h"

#include <math.h>
#include <stdio.h>

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not valid
 * (overlong forms, surrogates and code points above U+10FFFF are invalid). */
static size_t utf8_sequence(const unsigned char *s, size_t len, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        n = 2, v = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3, v = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

/* Code points that change how the text around them is laid out: the
 * bidirectional embeddings, overrides, isolates and marks, and the line and
 * paragraph separators (a line break to many renderers). */
static bool is_layout_control(uint32_t cp)
{
    return cp == 0x061c || cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2028 || cp == 0x2029;
}

/* How qps_escape_text writes one unit of input. */
typedef enum {
    UNIT_PLAIN,     /* as it is */
    UNIT_BYTES,     /* each byte as \xNN */
    UNIT_CODEPOINT, /* \u{NNNN} */
    UNIT_BACKSLASH  /* \\ */
} unit_kind;

/* Classifies the unit at u (a code point, or one invalid byte); *n gets its
 * length in bytes. */
static unit_kind text_unit(const unsigned char *u, size_t len, size_t *n, uint32_t *cp)
{
    *n = utf8_sequence(u, len, cp);
    if (*n == 0) {
        *n = 1;
        return UNIT_BYTES;
    }
    if (*cp < 0x20 || *cp == 0x7f || (*cp >= 0x80 && *cp < 0xa0))
        return UNIT_BYTES; /* a C1 control byte by byte, like invalid input */
    if (*cp == '\\')
        return UNIT_BACKSLASH;
    if (is_layout_control(*cp))
        return UNIT_CODEPOINT;
    return UNIT_PLAIN;
}

static size_t unit_width(unit_kind kind, size_t n)
{
    switch (kind) {
    case UNIT_BYTES: return 4 * n;
    case UNIT_CODEPOINT: return 8;
    case UNIT_BACKSLASH: return 2;
    default: return 1;
    }
}

static const char hex_digits[] = "0123456789abcdef";

static void put_hex_escape(qps_buf *buf, const char *prefix, unsigned char c)
{
    qps_buf_append(buf, prefix, strlen(prefix));
    qps_buf_putc(buf, hex_digits[c >> 4]);
    qps_buf_putc(buf, hex_digits[c & 15]);
}

static void put_unit(qps_buf *buf, unit_kind kind, const unsigned char *u, size_t n, uint32_t cp)
{
    switch (kind) {
    case UNIT_BYTES:
        for (size_t k = 0; k < n; k++)
            put_hex_escape(buf, "\\x", u[k]);
        break;
    case UNIT_CODEPOINT:
        qps_buf_printf(buf, "\\u{%04x}", (unsigned)cp);
        break;
    case UNIT_BACKSLASH:
        qps_buf_append(buf, "\\\\", 2);
        break;
    default:
        qps_buf_append(buf, (const char *)u, n);
    }
}

size_t qps_escape_text_cut(qps_buf *buf, const char *s, size_t len, size_t max_width)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, width = 0;
    while (i < len) {
        uint32_t cp;
        size_t n;
        unit_kind kind = text_unit(u + i, len - i, &n, &cp);
        size_t w = unit_width(kind, n);
        if (w > max_width - width)
            break;
        put_unit(buf, kind, u + i, n, cp);
        width += w;
        i += n;
    }
    return width;
}

void qps_escape_text(qps_buf *buf, const char *s, size_t len)
{
    qps_escape_text_cut(buf, s, len, SIZE_MAX);
}

size_t qps_text_width(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t width = 0, i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n;
        unit_kind kind = text_unit(u + i, len - i, &n, &cp);
        width += unit_width(kind, n);
        i += n;
    }
    return width;
}

void qps_escape_json(qps_buf *buf, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = utf8_sequence(u + i, len - i, &cp);
        if (n == 0) {
            put_hex_escape(buf, "\\u00", u[i]);
            i++;
            continue;
        }
        switch (cp) {
        case '"': qps_buf_append(buf, "\\\"", 2); break;
        case '\\': qps_buf_append(buf, "\\\\", 2); break;
        case '\n': qps_buf_append(buf, "\\n", 2); break;
        case '\r': qps_buf_append(buf, "\\r", 2); break;
        case '\t': qps_buf_append(buf, "\\t", 2); break;
        default:
            if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) || is_layout_control(cp))
                qps_buf_printf(buf, "\\u%04x", (unsigned)cp);
            else
                qps_buf_append(buf, s + i, n);
        }
        i += n;
    }
}

void qps_json_number(qps_buf *buf, double value, int decimals)
{
    if (!isfinite(value))
        qps_buf_append(buf, "null", 4);
    else
        qps_buf_printf(buf, "%.*f", decimals, value);
}

/* Whether a spreadsheet would read the cell as a formula: its first
 * character after blanks (which Excel and LibreOffice skip) is = + - @. */
static bool looks_like_formula(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
        i++;
    return i < len && (s[i] == '=' || s[i] == '+' || s[i] == '-' || s[i] == '@');
}

void qps_escape_csv(qps_buf *buf, const char *s, size_t len)
{
    /* control bytes are not CSV text (RFC 4180): they are written as the
     * text format writes them, \xNN, before the quoting */
    qps_buf text = {0};
    if (looks_like_formula(s, len))
        qps_buf_putc(&text, '\'');
    qps_escape_text(&text, s, len);
    if (text.failed) {
        qps_buf_release(&text);
        buf->failed = 1;
        return;
    }
    const char *t = text.data ? text.data : "";
    bool quote = text.len > 0 && (t[0] == ' ' || t[text.len - 1] == ' ');
    for (size_t i = 0; i < text.len && !quote; i++)
        if (t[i] == ',' || t[i] == '"')
            quote = true;
    if (!quote) {
        qps_buf_append(buf, t, text.len);
    } else {
        qps_buf_putc(buf, '"');
        for (size_t i = 0; i < text.len; i++) {
            if (t[i] == '"')
                qps_buf_putc(buf, '"');
            qps_buf_putc(buf, t[i]);
        }
        qps_buf_putc(buf, '"');
    }
    qps_buf_release(&text);
}

void qps_escape_html(qps_buf *buf, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n;
        unit_kind kind = text_unit(u + i, len - i, &n, &cp);
        if (kind == UNIT_PLAIN && n == 1) {
            switch (cp) {
            case '&': qps_buf_append(buf, "&amp;", 5); break;
            case '<': qps_buf_append(buf, "&lt;", 4); break;
            case '>': qps_buf_append(buf, "&gt;", 4); break;
            case '"': qps_buf_append(buf, "&quot;", 6); break;
            case '\'': qps_buf_append(buf, "&#39;", 5); break;
            default: qps_buf_putc(buf, (char)cp);
            }
        } else {
            put_unit(buf, kind, u + i, n, cp);
        }
        i += n;
    }
}

void qps_escape_script_json(qps_buf *buf, const char *json, size_t len)
{
    /* in valid JSON these occur only inside strings, where \uNNNN means the
     * same character: "</script>" and "<!--" can no longer end the element */
    for (size_t i = 0; i < len; i++) {
        switch (json[i]) {
        case '<': qps_buf_append(buf, "\\u003c", 6); break;
        case '>': qps_buf_append(buf, "\\u003e", 6); break;
        case '&': qps_buf_append(buf, "\\u0026", 6); break;
        default: qps_buf_putc(buf, json[i]);
        }
    }
}

void qps_escape_label(qps_buf *buf, const char *s, size_t len)
{
    /* the text policy first: it is one-to-one, so two dispositions never
     * become one series, a scraper's UI shows no raw control, and the
     * format's third escape (newline) has nothing left to do: a newline
     * is \x0a by now */
    qps_buf text = {0};
    qps_escape_text(&text, s, len);
    if (text.failed) {
        qps_buf_release(&text);
        buf->failed = 1;
        return;
    }
    for (size_t i = 0; i < text.len; i++) {
        char c = text.data[i];
        if (c == '\\' || c == '"')
            qps_buf_putc(buf, '\\');
        qps_buf_putc(buf, c);
    }
    qps_buf_release(&text);
}
