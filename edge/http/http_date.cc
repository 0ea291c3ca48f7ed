#include "edge/http/http_date.h"

#include <array>
#include <chrono>
#include <ctime>

#include "edge/http/tokens.h"

namespace anyedge::http {
namespace {

using std::chrono::days;
using std::chrono::sys_days;
using std::chrono::year_month_day;

constexpr std::array<std::string_view, 7> kDayNames = {"Sun", "Mon", "Tue", "Wed",
                                                       "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 7> kLongDayNames = {
    "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"};
constexpr std::array<std::string_view, 12> kMonthNames = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// 0001-01-01 and 9999-12-31T23:59:59 bound what four digits can express.
constexpr std::int64_t kMaxFormattable = 253402300799;

void put2(char* p, unsigned v) {
    p[0] = static_cast<char>('0' + v / 10 % 10);
    p[1] = static_cast<char>('0' + v % 10);
}

// Small cursor over the input; every accessor fails softly so parsing never reads past the end.
class Cursor {
  public:
    explicit Cursor(std::string_view s) : s_(s) {}

    bool literal(std::string_view lit) {
        if (s_.substr(pos_, lit.size()) != lit) {
            return false;
        }
        pos_ += lit.size();
        return true;
    }
    // Exactly n digits.
    bool digits(std::size_t n, unsigned& out) {
        if (s_.size() - pos_ < n) {
            return false;
        }
        unsigned v = 0;
        for (std::size_t i = 0; i < n; ++i) {
            char c = s_[pos_ + i];
            if (c < '0' || c > '9') {
                return false;
            }
            v = v * 10 + static_cast<unsigned>(c - '0');
        }
        pos_ += n;
        out = v;
        return true;
    }
    template <std::size_t N>
    bool one_of(const std::array<std::string_view, N>& names, unsigned& index) {
        for (std::size_t i = 0; i < N; ++i) {
            if (s_.substr(pos_, names[i].size()) == names[i]) {
                pos_ += names[i].size();
                index = static_cast<unsigned>(i);
                return true;
            }
        }
        return false;
    }
    bool at_end() const { return pos_ == s_.size(); }

  private:
    std::string_view s_;
    std::size_t pos_ = 0;
};

// time-of-day = hour ":" minute ":" second; second may be 60 for a leap second (RFC 5322 §3.3).
bool time_of_day(Cursor& c, unsigned& h, unsigned& m, unsigned& s) {
    return c.digits(2, h) && c.literal(":") && c.digits(2, m) && c.literal(":") && c.digits(2, s) &&
           h <= 23 && m <= 59 && s <= 60;
}

std::optional<std::int64_t> to_unix(unsigned y, unsigned mon, unsigned d, unsigned h, unsigned mi,
                                    unsigned s) {
    year_month_day ymd{std::chrono::year{static_cast<int>(y)}, std::chrono::month{mon},
                       std::chrono::day{d}};
    if (!ymd.ok()) {
        return std::nullopt;
    }
    std::int64_t day_count = sys_days{ymd}.time_since_epoch().count();
    return day_count * 86400 + h * 3600 + mi * 60 + s;
}

// IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
std::optional<std::int64_t> parse_imf(std::string_view text) {
    Cursor c(text);
    unsigned wd, d, mon, y, h, mi, s;
    if (!(c.one_of(kDayNames, wd) && c.literal(", ") && c.digits(2, d) && c.literal(" ") &&
          c.one_of(kMonthNames, mon) && c.literal(" ") && c.digits(4, y) && c.literal(" ") &&
          time_of_day(c, h, mi, s) && c.literal(" GMT") && c.at_end())) {
        return std::nullopt;
    }
    return to_unix(y, mon + 1, d, h, mi, s);
}

// rfc850-date: "Sunday, 06-Nov-94 08:49:37 GMT".
std::optional<std::int64_t> parse_rfc850(std::string_view text, std::int64_t now_unix) {
    Cursor c(text);
    unsigned wd, d, mon, yy, h, mi, s;
    if (!(c.one_of(kLongDayNames, wd) && c.literal(", ") && c.digits(2, d) && c.literal("-") &&
          c.one_of(kMonthNames, mon) && c.literal("-") && c.digits(2, yy) && c.literal(" ") &&
          time_of_day(c, h, mi, s) && c.literal(" GMT") && c.at_end())) {
        return std::nullopt;
    }
    year_month_day now_ymd{sys_days{days{now_unix / 86400}}};
    int now_year = static_cast<int>(now_ymd.year());
    int year = now_year / 100 * 100 + static_cast<int>(yy);
    if (year > now_year + 50) {
        year -= 100;
    }
    if (year < 0) {
        return std::nullopt;
    }
    return to_unix(static_cast<unsigned>(year), mon + 1, d, h, mi, s);
}

// asctime-date: "Sun Nov  6 08:49:37 1994" (day is two digits or space + one digit).
std::optional<std::int64_t> parse_asctime(std::string_view text) {
    Cursor c(text);
    unsigned wd, d, mon, y, h, mi, s;
    if (!(c.one_of(kDayNames, wd) && c.literal(" ") && c.one_of(kMonthNames, mon) &&
          c.literal(" "))) {
        return std::nullopt;
    }
    if (c.literal(" ")) {
        if (!c.digits(1, d)) {
            return std::nullopt;
        }
    } else if (!c.digits(2, d)) {
        return std::nullopt;
    }
    if (!(c.literal(" ") && time_of_day(c, h, mi, s) && c.literal(" ") && c.digits(4, y) &&
          c.at_end())) {
        return std::nullopt;
    }
    return to_unix(y, mon + 1, d, h, mi, s);
}

}  // namespace

void format_http_date(std::int64_t unix_seconds, std::span<char, kHttpDateLength> out) {
    if (unix_seconds < 0) {
        unix_seconds = 0;
    }
    if (unix_seconds > kMaxFormattable) {
        unix_seconds = kMaxFormattable;
    }
    const days day_count{unix_seconds / 86400};
    const auto secs = static_cast<unsigned>(unix_seconds % 86400);
    const sys_days date{day_count};
    const year_month_day ymd{date};
    const std::chrono::weekday wd{date};

    char* p = out.data();
    std::string_view name = kDayNames[wd.c_encoding()];
    std::string_view month = kMonthNames[static_cast<unsigned>(ymd.month()) - 1];
    auto year = static_cast<unsigned>(static_cast<int>(ymd.year()));
    p[0] = name[0], p[1] = name[1], p[2] = name[2], p[3] = ',', p[4] = ' ';
    put2(p + 5, static_cast<unsigned>(ymd.day()));
    p[7] = ' ';
    p[8] = month[0], p[9] = month[1], p[10] = month[2], p[11] = ' ';
    put2(p + 12, year / 100);
    put2(p + 14, year % 100);
    p[16] = ' ';
    put2(p + 17, secs / 3600);
    p[19] = ':';
    put2(p + 20, secs / 60 % 60);
    p[22] = ':';
    put2(p + 23, secs % 60);
    p[25] = ' ', p[26] = 'G', p[27] = 'M', p[28] = 'T';
}

std::string format_http_date(std::int64_t unix_seconds) {
    std::string s(kHttpDateLength, '\0');
    format_http_date(unix_seconds, std::span<char, kHttpDateLength>(s.data(), kHttpDateLength));
    return s;
}

std::optional<std::int64_t> parse_http_date(std::string_view text, std::int64_t now_unix) {
    text = trim_ows(text);
    // The forms are told apart by the character after the day name: ',' for IMF-fixdate, a
    // longer name then ',' for RFC 850, ' ' for asctime.
    if (text.size() == kHttpDateLength) {
        if (auto t = parse_imf(text)) {
            return t;
        }
    }
    if (auto t = parse_rfc850(text, now_unix)) {
        return t;
    }
    return parse_asctime(text);
}

std::optional<std::int64_t> parse_http_date(std::string_view text) {
    return parse_http_date(text, static_cast<std::int64_t>(std::time(nullptr)));
}

}  // namespace anyedge::http
