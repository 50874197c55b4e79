// Users, API keys, sessions and collection grants.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "cloister/storage/catalog.h"
#include "storage_test_util.h"

namespace cloister::storage {
namespace {

using testing::TempDir;

class AccountsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_OK_AND_ASSIGN(catalog_, Catalog::Open(dir_ / "catalog.db")); }

  TempDir dir_;
  std::optional<Catalog> catalog_;
};

TEST_F(AccountsTest, AUserIsStoredWithRoleAndHashAndFoundByNameAndId) {
  ASSERT_OK_AND_ASSIGN(int64_t id, catalog_->AddUser("alice", Role::kAdmin, "$argon2id$x"));
  ASSERT_OK_AND_ASSIGN(User by_name, catalog_->GetUser("alice"));
  EXPECT_EQ(by_name.id, id);
  EXPECT_EQ(by_name.role, Role::kAdmin);
  EXPECT_EQ(by_name.password_hash, "$argon2id$x");
  EXPECT_FALSE(by_name.disabled);
  EXPECT_GT(by_name.created_at, 0);
  ASSERT_OK_AND_ASSIGN(User by_id, catalog_->GetUserById(id));
  EXPECT_EQ(by_id.name, "alice");
  EXPECT_EQ(CODE_OF(catalog_->GetUser("bob")), StatusCode::kNotFound);
  EXPECT_EQ(CODE_OF(catalog_->GetUserById(id + 1)), StatusCode::kNotFound);
}

TEST_F(AccountsTest, DuplicateOrEmptyNamesAreRefused) {
  ASSERT_OK(catalog_->AddUser("alice", Role::kUser, "h"));
  Result<int64_t> again = catalog_->AddUser("alice", Role::kAdmin, "h2");
  EXPECT_EQ(again.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(again.status().message().find("alice"), std::string::npos);
  EXPECT_EQ(CODE_OF(catalog_->AddUser("", Role::kUser, "h")), StatusCode::kInvalidArgument);
}

TEST_F(AccountsTest, UsersAreListedByNameAndRolesAndFlagsChange) {
  ASSERT_OK(catalog_->AddUser("zoe", Role::kUser, "h"));
  ASSERT_OK(catalog_->AddUser("adam", Role::kUser, "h"));
  ASSERT_OK(catalog_->SetUserRole("zoe", Role::kAdmin));
  ASSERT_OK(catalog_->SetUserDisabled("adam", true));
  ASSERT_OK_AND_ASSIGN(std::vector<User> users, catalog_->ListUsers());
  ASSERT_EQ(users.size(), 2u);
  EXPECT_EQ(users[0].name, "adam");
  EXPECT_TRUE(users[0].disabled);
  EXPECT_EQ(users[1].role, Role::kAdmin);
  EXPECT_EQ(catalog_->SetUserRole("nobody", Role::kAdmin).code(), StatusCode::kNotFound);
  EXPECT_EQ(RoleName(Role::kUser), "user");
  EXPECT_EQ(ParseRole("admin"), Role::kAdmin);
  EXPECT_EQ(ParseRole("root"), std::nullopt);
}

TEST_F(AccountsTest, ChangingAPasswordEndsTheUsersSessions) {
  ASSERT_OK_AND_ASSIGN(int64_t alice, catalog_->AddUser("alice", Role::kUser, "old"));
  ASSERT_OK_AND_ASSIGN(int64_t bob, catalog_->AddUser("bob", Role::kUser, "b"));
  ASSERT_OK(catalog_->AddSession({"t-alice", alice, "csrf", 100, 200}));
  ASSERT_OK(catalog_->AddSession({"t-bob", bob, "csrf", 100, 200}));
  ASSERT_OK(catalog_->SetUserPassword("alice", "new"));
  EXPECT_EQ(catalog_->GetUser("alice")->password_hash, "new");
  EXPECT_EQ(*catalog_->FindSession("t-alice"), std::nullopt);
  EXPECT_NE(*catalog_->FindSession("t-bob"), std::nullopt);
  EXPECT_EQ(catalog_->SetUserPassword("carol", "x").code(), StatusCode::kNotFound);
}

TEST_F(AccountsTest, ApiKeysAreFoundByHashRevokedAndTouched) {
  ASSERT_OK_AND_ASSIGN(int64_t alice, catalog_->AddUser("alice", Role::kUser, "h"));
  ASSERT_OK_AND_ASSIGN(int64_t key, catalog_->AddApiKey(alice, "hash1", "ab12cd34"));
  ASSERT_OK_AND_ASSIGN(std::optional<ApiKey> found, catalog_->FindApiKey("hash1"));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id, key);
  EXPECT_EQ(found->user_name, "alice");
  EXPECT_EQ(found->prefix, "ab12cd34");
  EXPECT_EQ(found->revoked_at, std::nullopt);
  EXPECT_EQ(*catalog_->FindApiKey("other"), std::nullopt);

  ASSERT_OK(catalog_->TouchApiKey(key, 500));
  ASSERT_OK(catalog_->RevokeApiKey(key, 600));
  ASSERT_OK(catalog_->RevokeApiKey(key, 700));  // the first revocation time stays
  found = *catalog_->FindApiKey("hash1");
  EXPECT_EQ(found->last_used_at, 500);
  EXPECT_EQ(found->revoked_at, 600);
  EXPECT_EQ(catalog_->RevokeApiKey(key + 1, 1).code(), StatusCode::kNotFound);
  EXPECT_EQ(catalog_->TouchApiKey(key + 1, 1).code(), StatusCode::kNotFound);
}

TEST_F(AccountsTest, ApiKeysNeedAUserAndAUniqueNonEmptyHash) {
  ASSERT_OK_AND_ASSIGN(int64_t alice, catalog_->AddUser("alice", Role::kUser, "h"));
  ASSERT_OK(catalog_->AddApiKey(alice, "hash1", "p"));
  EXPECT_EQ(CODE_OF(catalog_->AddApiKey(alice, "hash1", "p")), StatusCode::kFailedPrecondition);
  EXPECT_EQ(CODE_OF(catalog_->AddApiKey(alice + 7, "hash2", "p")),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(CODE_OF(catalog_->AddApiKey(alice, "", "p")), StatusCode::kInvalidArgument);
  ASSERT_OK_AND_ASSIGN(int64_t bob, catalog_->AddUser("bob", Role::kUser, "h"));
  ASSERT_OK(catalog_->AddApiKey(bob, "hash3", "q"));
  EXPECT_EQ(catalog_->ListApiKeys()->size(), 2u);
  ASSERT_OK_AND_ASSIGN(std::vector<ApiKey> bobs, catalog_->ListApiKeys(bob));
  ASSERT_EQ(bobs.size(), 1u);
  EXPECT_EQ(bobs[0].prefix, "q");
}

TEST_F(AccountsTest, SessionsAreFoundExtendedDeletedAndExpire) {
  ASSERT_OK_AND_ASSIGN(int64_t alice, catalog_->AddUser("alice", Role::kUser, "h"));
  ASSERT_OK(catalog_->AddSession({"t1", alice, "c1", 100, 200}));
  ASSERT_OK(catalog_->AddSession({"t2", alice, "c2", 100, 400}));
  EXPECT_EQ(catalog_->AddSession({"t1", alice, "c", 1, 2}).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(catalog_->AddSession({"t3", alice + 9, "c", 1, 2}).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(catalog_->AddSession({"", alice, "c", 1, 2}).code(), StatusCode::kInvalidArgument);
  ASSERT_OK_AND_ASSIGN(std::optional<Session> s, catalog_->FindSession("t1"));
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->csrf_token, "c1");
  EXPECT_EQ(s->user_id, alice);
  ASSERT_OK(catalog_->ExtendSession("t1", 300));
  EXPECT_EQ((*catalog_->FindSession("t1"))->expires_at, 300);
  EXPECT_EQ(catalog_->ExtendSession("nope", 1).code(), StatusCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(int removed, catalog_->DeleteExpiredSessions(350));
  EXPECT_EQ(removed, 1);
  EXPECT_EQ(*catalog_->FindSession("t1"), std::nullopt);
  ASSERT_OK(catalog_->DeleteSession("t2"));
  ASSERT_OK(catalog_->DeleteSession("t2"));
  EXPECT_EQ(*catalog_->FindSession("t2"), std::nullopt);
}

TEST_F(AccountsTest, GrantsNameExistingUsersAndCollectionsAndAreRevoked) {
  ASSERT_OK_AND_ASSIGN(int64_t alice, catalog_->AddUser("alice", Role::kUser, "h"));
  ASSERT_OK_AND_ASSIGN(int64_t hr, catalog_->EnsureCollection("hr", ""));
  ASSERT_OK(catalog_->GrantCollection(alice, hr));
  ASSERT_OK(catalog_->GrantCollection(alice, hr));
  ASSERT_OK(catalog_->GrantCollection(alice, 1));
  EXPECT_EQ(*catalog_->UserCollections(alice), (std::vector<int64_t>{1, hr}));
  EXPECT_EQ(catalog_->GrantCollection(alice, hr + 5).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(catalog_->GrantCollection(alice + 5, hr).code(), StatusCode::kFailedPrecondition);
  ASSERT_OK(catalog_->RevokeCollection(alice, hr));
  EXPECT_EQ(catalog_->RevokeCollection(alice, hr).code(), StatusCode::kNotFound);
  EXPECT_EQ(*catalog_->UserCollections(alice), (std::vector<int64_t>{1}));
}

TEST_F(AccountsTest, DeletingAUserTakesTheirKeysSessionsAndGrants) {
  ASSERT_OK_AND_ASSIGN(int64_t alice, catalog_->AddUser("alice", Role::kUser, "h"));
  ASSERT_OK(catalog_->AddApiKey(alice, "k", "p"));
  ASSERT_OK(catalog_->AddSession({"t", alice, "c", 1, 2}));
  ASSERT_OK(catalog_->GrantCollection(alice, 1));
  ASSERT_OK(catalog_->DeleteUser("alice"));
  EXPECT_EQ(*catalog_->FindApiKey("k"), std::nullopt);
  EXPECT_EQ(*catalog_->FindSession("t"), std::nullopt);
  EXPECT_TRUE(catalog_->UserCollections(alice)->empty());
  EXPECT_EQ(catalog_->DeleteUser("alice").code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace cloister::storage
