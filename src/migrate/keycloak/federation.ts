// Path 2 (KeyCape specification §14.3): Keycloak federating a full LDAP directory that holds the canonical LDAP
// schema (users at uid=…,ou=people,<base>, groupOfUniqueNames groups at cn=…,ou=groups,<base>, employeeNumber = the
// stable id, employeeType = principal type, a disabled user = member of cn=keyward-disabled). The component is an
// `org.keycloak.storage.UserStorageProvider` (provider id "ldap") with its mappers as sub-components of type
// `org.keycloak.storage.ldap.mappers.LDAPStorageMapper`; every config value is a list of strings. Keys as in
// org.keycloak.models.LDAPConstants, the user storage provider model and the group mapper's GroupMapperConfig.
import { DISABLED_GROUP } from '../../identity/model.ts';
import { groupDn, groupsDn, peopleDn } from '../../identity/ldap/mapping.ts';
import { LDAP_RULES } from '../../identity/ldap/rules.ts';
import type { KcComponent } from './types.ts';

export const USER_STORAGE_PROVIDER = 'org.keycloak.storage.UserStorageProvider';
export const LDAP_MAPPER = 'org.keycloak.storage.ldap.mappers.LDAPStorageMapper';

export interface LdapFederationOptions {
  /** ldap://HOST:PORT or ldaps://HOST:PORT, as Keycloak will reach it. */
  url: string;
  baseDn: string;
  bindDn?: string | undefined;
  /** Name of the environment variable Keycloak's import substitutes for the bind password (never the password). */
  bindPasswordEnv?: string | undefined;
  startTls: boolean;
}

const one = (v: string) => [v];

function attributeMapper(name: string, ldapAttribute: string, modelAttribute: string, mandatory: boolean): KcComponent {
  return {
    name,
    providerId: 'user-attribute-ldap-mapper',
    subComponents: {},
    config: {
      'ldap.attribute': one(ldapAttribute),
      'user.model.attribute': one(modelAttribute),
      'read.only': one('true'),
      'always.read.value.from.ldap': one('true'),
      'is.mandatory.in.ldap': one(String(mandatory)),
      'is.binary.attribute': one('false'),
    },
  };
}

/**
 * The federation component. Disabled users are kept out by the search filter (they are members of the reserved
 * group, which the directory reports in memberOf), so Keycloak never finds them; the reserved group itself is
 * filtered out of the group mapping.
 */
export function ldapFederationComponent(opts: LdapFederationOptions, tenant: string): KcComponent {
  const user = LDAP_RULES.entry_types.user;
  const group = LDAP_RULES.entry_types.group;
  const disabledDn = groupDn(DISABLED_GROUP, opts.baseDn);
  const bind = opts.bindDn !== undefined;
  return {
    name: 'keyward-canonical-ldap',
    providerId: 'ldap',
    subComponents: {
      [LDAP_MAPPER]: [
        attributeMapper('username', user.naming.rdn_attribute, 'username', true),
        attributeMapper('first name', 'givenName', 'firstName', false),
        attributeMapper('last name', 'sn', 'lastName', true),
        attributeMapper('email', 'mail', 'email', true),
        attributeMapper('display name', 'cn', 'display_name', true),
        attributeMapper('keyward id', 'employeeNumber', 'keyward_id', true),
        attributeMapper('principal type', 'employeeType', 'principal_type', true),
        {
          // One directory holds one tenant (canonical LDAP schema): the tenant is the realm's, for every user.
          name: 'tenant',
          providerId: 'hardcoded-attribute-mapper',
          subComponents: {},
          config: { 'user.model.attribute': one('tenant'), 'attribute.value': one(tenant) },
        },
        {
          name: 'groups',
          providerId: 'group-ldap-mapper',
          subComponents: {},
          config: {
            'groups.dn': one(groupsDn(opts.baseDn)),
            'group.name.ldap.attribute': one(group.naming.rdn_attribute),
            'group.object.classes': one('groupOfUniqueNames'),
            'preserve.group.inheritance': one('false'),
            'ignore.missing.groups': one('false'),
            'membership.ldap.attribute': one(LDAP_RULES.membership.attribute),
            'membership.attribute.type': one('DN'),
            'membership.user.ldap.attribute': one(user.naming.rdn_attribute),
            'groups.ldap.filter': one(`(!(cn=${DISABLED_GROUP}))`),
            mode: one('READ_ONLY'),
            'user.roles.retrieve.strategy': one('LOAD_GROUPS_BY_MEMBER_ATTRIBUTE'),
            'memberof.ldap.attribute': one('memberOf'),
            'mapped.group.attributes': one('description'),
            'drop.non.existing.groups.during.sync': one('false'),
            // Top level, where the realm export defines the same groups with their realm roles.
            'groups.path': one('/'),
          },
        },
      ],
    },
    config: {
      enabled: one('true'),
      priority: one('0'),
      vendor: one('other'),
      connectionUrl: one(opts.url),
      startTls: one(String(opts.startTls)),
      useTruststoreSpi: one('always'),
      connectionPooling: one('true'),
      connectionTimeout: one('10000'),
      readTimeout: one('10000'),
      authType: one(bind ? 'simple' : 'none'),
      ...(bind ? { bindDn: one(opts.bindDn!), bindCredential: one(`\${${opts.bindPasswordEnv ?? 'KEYCLOAK_LDAP_BIND_PASSWORD'}}`) } : {}),
      usersDn: one(peopleDn(opts.baseDn)),
      usernameLDAPAttribute: one(user.naming.rdn_attribute),
      rdnLDAPAttribute: one(user.naming.rdn_attribute),
      uuidLDAPAttribute: one('entryUUID'),
      userObjectClasses: one('inetOrgPerson'),
      customUserSearchFilter: one(`(!(memberOf=${disabledDn}))`),
      searchScope: one('1'),
      pagination: one('true'),
      editMode: one('READ_ONLY'),
      importEnabled: one('true'),
      syncRegistrations: one('false'),
      batchSizeForSync: one('1000'),
      fullSyncPeriod: one('-1'),
      changedSyncPeriod: one('-1'),
      cachePolicy: one('DEFAULT'),
      trustEmail: one('false'),
      validatePasswordPolicy: one('false'),
      allowKerberosAuthentication: one('false'),
      useKerberosForPasswordAuthentication: one('false'),
    },
  };
}
