// Issue 4, acceptance 4: bad input — malformed JSON, unknown fields, wrong types, an oversize
// body, a wrong content type, bad path parameters, invalid UTF-8, huge headers — is a 4xx with a
// JSON {"code","message"} saying what is wrong, and a valid request right after it succeeds (on
// the same connection unless the server had to stop reading it).
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/gateway_test_host.h"

namespace berth::testing {
namespace {

constexpr int kInvalidArgument = 3;
constexpr int kNotFound = 5;
constexpr int kUnimplemented = 12;

struct BadCase {
  std::string what;
  HttpCall call;
  int status;
  int grpc_code;
  std::string message_part;
  // Whether the connection stays open after the error (the request was read whole).
  bool keeps_connection = true;
};

class GatewayBadInputTest : public GatewayTest {
 protected:
  // Runs each case followed by a valid request in the same curl (so on the same connection
  // when the gateway keeps it open).
  void RunCases(const std::vector<BadCase>& cases) {
    const std::string backend = BackendToken();
    for (const BadCase& bad : cases) {
      SCOPED_TRACE(bad.what);
      HttpCall call = bad.call;
      bool has_auth = false;
      for (const std::string& header : call.headers) {
        has_auth = has_auth || absl::StartsWith(header, "Authorization:");
      }
      if (!has_auth) call.headers.push_back(TestKeys::AuthHeader(backend));
      std::vector<HttpResult> results = Calls({call, Get("/v1/boxes", backend)});
      ASSERT_EQ(results.size(), 2u);
      ExpectError(results[0], bad.status, bad.grpc_code, bad.message_part);
      EXPECT_EQ(results[1].status, 200) << "the valid request after it:\n"
                                        << results[1].Describe();
      if (bad.keeps_connection) {
        EXPECT_EQ(results[1].num_connects, 0) << "the valid request needed a new connection";
      }
    }
  }
};

HttpCall PostBody(const std::string& body, const std::string& content_type = "application/json") {
  HttpCall call = Post("/v1/boxes", body);
  call.content_type = content_type;
  return call;
}

HttpCall Method(const std::string& method, const std::string& path) {
  HttpCall call = Get(path);
  call.method = method;
  return call;
}

TEST_F(GatewayBadInputTest, MalformedAndMistypedJsonBodies) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  RunCases({
      {"truncated JSON", PostBody(R"({"app": "test-box",)"), 400, kInvalidArgument,
       "malformed JSON body at line 1, column 20"},
      {"missing comma, on line 3",
       PostBody("{\n  \"app\": \"test-box\"\n  \"boxId\": \"x\"\n}"), 400, kInvalidArgument,
       "line 3, column 3"},
      {"single quotes", PostBody("{'app': 'test-box'}"), 400, kInvalidArgument,
       "malformed JSON body at line 1, column 2"},
      {"trailing garbage", PostBody(R"({"app":"test-box"} x)"), 400, kInvalidArgument,
       "malformed JSON"},
      {"unknown field", PostBody(R"({"app":"no-such-app","bogus":1})"), 400, kInvalidArgument,
       "\"bogus\""},
      {"unknown field, snake and camel mixed", PostBody(R"({"app":"no-such-app","box_idd":"x"})"),
       400, kInvalidArgument, "box_idd"},
      {"string field given a number", PostBody(R"({"app":5})"), 400, kInvalidArgument, "app"},
      {"integer field given a word", PostBody(R"({"app":"no-such-app","dpi":"many"})"), 400,
       kInvalidArgument, "dpi"},
      {"unsigned field given a negative", PostBody(R"({"app":"no-such-app","dpi":-1})"), 400,
       kInvalidArgument, "dpi"},
      {"bool field given a string", PostBody(R"({"app":"no-such-app","waitForReady":"maybe"})"), 400,
       kInvalidArgument, "wait_for_ready"},
      {"map field given an array", PostBody(R"({"app":"no-such-app","env":[1,2]})"), 400,
       kInvalidArgument, "env"},
      {"duration given a word", PostBody(R"({"app":"no-such-app","ttl":"soon"})"), 400,
       kInvalidArgument, "ttl"},
      {"body is an array", PostBody(R"([{"app":"test-box"}])"), 400, kInvalidArgument,
       "object"},
      {"body is a string", PostBody(R"("test-box")"), 400, kInvalidArgument, "object"},
      {"invalid UTF-8 in a string", PostBody("{\"app\":\"\xff\xfe\"}"), 400, kInvalidArgument,
       "UTF-8"},
      {"invalid UTF-8 outside strings", PostBody("{\"app\":\"no-such-app\"\xc3}"), 400,
       kInvalidArgument, ""},
      {"text/plain body", PostBody(R"({"app":"no-such-app"})", "text/plain"), 415, kInvalidArgument,
       "Content-Type"},
      {"form body", PostBody("app=no-such-app", "application/x-www-form-urlencoded"), 415,
       kInvalidArgument, "application/json"},
      {"no Content-Type", PostBody(R"({"app":"no-such-app"})", ""), 415, kInvalidArgument,
       "Content-Type"},
      {"JSON in latin1", PostBody(R"({"app":"no-such-app"})", "application/json; charset=latin1"),
       415, kInvalidArgument, "charset"},
      // UTF-8 JSON with a charset parameter passes the check (and the app is then unknown).
      {"JSON, charset=utf-8", PostBody(R"({"app":"no-such-app"})", "application/json; charset=utf-8"),
       400, kInvalidArgument, "no-such-app"},
      {"chunked over the limit", [] {
         HttpCall call = PostBody(absl::StrCat(R"({"app":"no-such-app","sessionId":")",
                                               std::string(2 << 20, 'c'), "\"}"));
         call.headers = {"Transfer-Encoding: chunked"};
         return call;
       }(),
       413, kInvalidArgument, "body", false},
      // A chunked body is read (and the app then found unknown).
      {"chunked body", [] {
         HttpCall call = PostBody(R"({"app":"no-such-app"})");
         call.headers = {"Transfer-Encoding: chunked"};
         return call;
       }(),
       400, kInvalidArgument, "no-such-app"},
      {"a body on GET", [] {
         HttpCall call = Get("/v1/boxes");
         call.body = R"({"app":"no-such-app"})";
         return call;
       }(),
       400, kInvalidArgument, "no request body"},
      {"query parameters on POST", [] {
         HttpCall call = PostBody(R"({"app":"no-such-app"})");
         call.path = "/v1/boxes?app=test-box";
         return call;
       }(),
       400, kInvalidArgument, "query"},
  });
}

TEST_F(GatewayBadInputTest, BadPathsAndQueries) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  RunCases({
      {"bad percent-escape", Get("/v1/boxes/%ZZ"), 400, kInvalidArgument, "percent"},
      {"truncated percent-escape", Get("/v1/boxes/abc%4"), 400, kInvalidArgument, "percent"},
      // Ids that decode to something no box id can be: 400 naming box_id, for reads and ends.
      {"encoded dot-dot slash", Get("/v1/boxes/..%2f"), 400, kInvalidArgument, "box_id"},
      {"encoded traversal", Get("/v1/boxes/..%2F..%2Fetc%2Fpasswd"), 400, kInvalidArgument,
       "box_id"},
      {"encoded slash in the id", Delete("/v1/boxes/a%2Fb"), 400, kInvalidArgument, "box_id"},
      {"NUL in the id", Get("/v1/boxes/a%00b"), 400, kInvalidArgument, "box_id"},
      {"space in the id", Get("/v1/boxes/a%20b"), 400, kInvalidArgument, "box_id"},
      {"traversal in a config's id",
       [] {
         HttpCall call = Post("/v1/boxes/..%2Fx/config", R"({"jsonData":"{}"})");
         call.method = "PUT";
         return call;
       }(),
       400, kInvalidArgument, "box_id"},
      {"invalid UTF-8 in the path", Get("/v1/boxes/%FF%FE"), 400, kInvalidArgument, "UTF-8"},
      {"plain dot-dot segment", Get("/v1/boxes/../boxes"), 404, kNotFound, "no route"},
      {"unknown route", Get("/v1/nothing"), 404, kNotFound, "no route"},
      {"too many segments", Get("/v1/boxes/a/b"), 404, kNotFound, "no route"},
      {"empty id", Get("/v1/boxes/"), 404, kNotFound, "no route"},
      {"unknown query parameter", Get("/v1/boxes?bogus=1"), 400, kInvalidArgument, "bogus"},
      {"bad enum in the query", Get("/v1/boxes?state=NOPE"), 400, kInvalidArgument, "state"},
      {"repeated query parameter", Get("/v1/boxes?app=a&app=b"), 400, kInvalidArgument,
       "more than once"},
      {"bad escape in the query", Get("/v1/boxes?app=%ZZ"), 400, kInvalidArgument, "percent"},
      {"invalid UTF-8 in the query", Get("/v1/boxes?app=%FF"), 400, kInvalidArgument, "UTF-8"},
      {"query naming the path's field", Get("/v1/boxes/abc?boxId=other"), 400, kInvalidArgument,
       "path"},
      {"PUT on /v1/boxes", Method("PUT", "/v1/boxes"), 405, kUnimplemented, "PUT"},
      {"PATCH on a box", Method("PATCH", "/v1/boxes/abc"), 405, kUnimplemented, "PATCH"},
  });
  // 405 names what is allowed.
  auto with_token = [this](HttpCall call) {
    call.headers.push_back(TestKeys::AuthHeader(BackendToken()));
    return call;
  };
  HttpResult put = Call(with_token(Method("PUT", "/v1/boxes")));
  EXPECT_EQ(put.status, 405);
  EXPECT_THAT(put.Header("allow"), ::testing::HasSubstr("GET"));
  EXPECT_THAT(put.Header("allow"), ::testing::HasSubstr("POST"));
  HttpResult patch = Call(with_token(Method("PATCH", "/v1/boxes/abc")));
  EXPECT_EQ(patch.status, 405);
  EXPECT_THAT(patch.Header("allow"), ::testing::HasSubstr("GET"));
  EXPECT_THAT(patch.Header("allow"), ::testing::HasSubstr("DELETE"));
}

// The probes answer GET and HEAD only; HEAD has GET's status and headers and no body.
TEST_F(GatewayBadInputTest, ProbesAnswerGetAndHeadOnly) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  RunCases({
      {"POST /healthz", Method("POST", "/healthz"), 405, kUnimplemented, "POST"},
      {"DELETE /readyz", Method("DELETE", "/readyz"), 405, kUnimplemented, "DELETE"},
      {"PUT /metrics", Method("PUT", "/metrics"), 405, kUnimplemented, "PUT"},
  });
  HttpResult post = Call(Method("POST", "/healthz"));
  EXPECT_EQ(post.Header("allow"), "GET, HEAD") << post.Describe();

  for (const std::string path : {"/healthz", "/readyz"}) {
    SCOPED_TRACE(path);
    HttpCall head = Method("HEAD", path);
    head.curl_args.push_back("--head");
    // HEAD then GET on one connection: a body after the HEAD answer would be read as the GET's
    // answer and break it.
    std::vector<HttpResult> results = Calls({head, Get(path), head});
    ASSERT_EQ(results.size(), 3u);
    EXPECT_EQ(results[0].status, 200) << results[0].Describe();
    // curl --head writes the header block as the output: nothing may follow it.
    EXPECT_TRUE(absl::EndsWith(results[0].body, "\r\n\r\n")) << results[0].body;
    EXPECT_EQ(results[0].Header("content-type"), "application/json");
    EXPECT_EQ(results[1].status, 200) << results[1].Describe();
    EXPECT_EQ(results[0].Header("content-length"), absl::StrCat(results[1].body.size()));
    EXPECT_EQ(results[2].status, 200) << results[2].Describe();
    EXPECT_EQ(results[1].num_connects + results[2].num_connects, 0)
        << "the connection was not kept after HEAD";
  }
}

TEST_F(GatewayBadInputTest, OversizeBodyAndHugeHeaders) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  // The default --max_body is 1 MiB.
  const std::string big_body =
      absl::StrCat(R"({"app":"no-such-app","sessionId":")", std::string(2 << 20, 'a'), "\"}");
  std::vector<std::string> many_headers;
  for (int i = 0; i < 100; ++i) {
    many_headers.push_back(absl::StrCat("X-Filler-", i, ": ", std::string(200, 'h')));
  }
  many_headers.push_back(TestKeys::AuthHeader(BackendToken()));
  RunCases({
      {"a 2 MiB body", PostBody(big_body), 413, kInvalidArgument, "body", false},
      {"one 20 KiB header", [] {
         HttpCall call = Get("/v1/boxes");
         call.headers = {"X-Big: " + std::string(20 << 10, 'x')};
         return call;
       }(),
       431, kInvalidArgument, "header", false},
      {"100 headers of 200 bytes", [&] {
         HttpCall call = Get("/v1/boxes");
         call.headers = many_headers;
         return call;
       }(),
       431, kInvalidArgument, "header", false},
  });
  // A body just under the limit is read (and then judged on its content).
  const std::string under = absl::StrCat(R"({"app":"no-such-app","sessionId":")",
                                         std::string((1 << 20) - 100, 's'), "\"}");
  HttpCall call = PostBody(under);
  call.headers = {TestKeys::AuthHeader(BackendToken())};
  HttpResult result = Call(call);
  ExpectError(result, 400, kInvalidArgument, "no-such-app");

  // A smaller --max_body is honoured.
  ASSERT_NO_FATAL_FAILURE(
      StartGateway({"--max_body=100", absl::StrCat("--state_dir=", work_dir(), "/small")}));
  RunCases({{"a 200-byte body over --max_body=100",
             PostBody(absl::StrCat(R"({"app":"no-such-app","sessionId":")", std::string(170, 'b'),
                                   "\"}")),
             413, kInvalidArgument, "100 bytes", false}});
}

// What curl cannot send: a request that is not valid HTTP, written raw over TLS.
TEST_F(GatewayBadInputTest, MalformedHttpIs400WithJson) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  const std::string raw_requests[] = {
      "GET /v1/boxes HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: abc\\r\\n\\r\\n",
      "GET /v1/boxes HTTP/1.1\\r\\nHost: x\\r\\nBad Header Name: 1\\r\\n\\r\\n",
      "BLAH\\r\\n\\r\\n",
  };
  for (const std::string& raw : raw_requests) {
    SCOPED_TRACE(raw);
    CommandResult result = RunShell(absl::StrCat(
        "printf '", raw, "' | timeout 10 openssl s_client -quiet -connect 127.0.0.1:",
        gateway().port(), " 2>/dev/null"));
    EXPECT_TRUE(absl::StartsWith(result.output, "HTTP/1.1 400")) << result.output;
    const size_t body = result.output.find("\r\n\r\n");
    ASSERT_NE(body, std::string::npos) << result.output;
    absl::StatusOr<ErrorBody> error = ParseErrorBody(result.output.substr(body + 4));
    EXPECT_TRUE(error.ok()) << error.status();
    if (error.ok()) {
      EXPECT_EQ(error->code, kInvalidArgument);
    }
  }
  EXPECT_EQ(Call(Get("/v1/boxes", BackendToken())).status, 200);
}

}  // namespace
}  // namespace berth::testing
