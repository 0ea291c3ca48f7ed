// BIRD control-socket reply parsing (pure, no I/O).
//
// BIRD's CLI protocol (doc/prog-*, nest/cli.c): every reply line is either
//   "DDDD-text"  a line of a multi-line reply with code DDDD,
//   "DDDD text"  the final line of the reply (code DDDD),
//   " text"      a continuation of the previous line's code (never final).
// Code classes: 0xxx action succeeded, 1xxx table rows, 2xxx table headings, 8xxx run-time
// errors, 9xxx parse errors; 0001 is the greeting sent once on connect.
//
// ReplyAssembler takes raw bytes in any split and yields complete replies; it owns no socket
// and is used by one thread at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "origin-sync/base/result.h"

namespace anyedge::bird {

enum class CodeClass { ok, table, runtime_error, parse_error, other };

CodeClass classify(int code);

struct ReplyLine {
    int code = 0;
    std::string text;
    bool final = false;
};

// Parses one line without its '\n'. `previous_code` is the code a continuation line (" text")
// inherits; -1 when there is no previous line, which makes a continuation an error.
Result<ReplyLine> parse_line(std::string_view line, int previous_code);

struct Reply {
    std::vector<ReplyLine> lines;

    // The code of the final line: it decides success or failure of the whole command.
    int code() const { return lines.empty() ? -1 : lines.back().code; }
    bool ok() const { return classify(code()) == CodeClass::ok; }
    bool error() const;
    // All texts joined by '\n', the way birdc prints them.
    std::string text() const;
    // The final line's text (the error message for 8xxx/9xxx).
    std::string final_text() const { return lines.empty() ? "" : lines.back().text; }
};

// Incremental reassembly of replies from a byte stream.
class ReplyAssembler {
  public:
    // Feeds bytes; complete replies are queued for next(). A malformed line is an error and
    // leaves the assembler unusable (the caller should drop the connection).
    Status feed(std::string_view bytes);
    std::optional<Reply> next();
    // True when part of a reply has been received but not its final line.
    bool mid_reply() const { return !partial_.empty() || !current_.lines.empty(); }

  private:
    std::string partial_;
    Reply current_;
    std::vector<Reply> ready_;
    bool failed_ = false;
};

}  // namespace anyedge::bird
